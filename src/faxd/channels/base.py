"""What every channel takes and raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from faxd.errors import FaxdError


class ChannelError(FaxdError):
    """The channel did not accept the message. `permanent`: trying again cannot help
    (a 550 for the address, a queue that does not exist); else retried with backoff."""

    def __init__(
        self, message: str, *, permanent: bool = False, auth: bool = False, hint: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.permanent = permanent
        self.auth = auth  # the server refused faxd's credentials: the admin is alerted


@dataclass(frozen=True)
class Attachment:
    name: str
    path: Path
    mime: str = "application/octet-stream"


@dataclass(frozen=True)
class Message:
    """One notice, delivery or alert, composed and ready for any channel."""

    event_id: str  # stable across attempts: Message-ID and X-Faxd-Event-Id
    kind: str  # notice | delivery | alert | test
    event: str
    subject: str
    text: str
    address: str | None = None  # for mail: the recipient
    attachments: tuple[Attachment, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)  # JSON event / FAXD_* variables
    print_file: Path | None = None  # what a print channel prints
    created_at: float | None = None  # when the event happened: the mail's Date, every attempt


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None:
        """Return once the channel accepted the message; raise ChannelError otherwise."""

    def close(self) -> None:
        """Drop any connection kept between messages."""
