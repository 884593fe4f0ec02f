"""What every channel takes and raises."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from faxd.errors import FaxdError
from faxd.host import contained
from faxd.host.fsops import NotRegularFileError


class ChannelError(FaxdError):
    """The channel did not accept the message. `permanent`: trying again cannot help
    (a 550 for the address, a queue that does not exist); else retried with backoff.
    `recipient`: only this message's address was refused (a full mailbox, greylisting),
    so the channel's messages to others go on meanwhile."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        auth: bool = False,
        recipient: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.permanent = permanent
        self.auth = auth  # the server refused faxd's credentials: the admin is alerted
        self.recipient = recipient


class ChannelStopped(ChannelError):
    """faxd stopped the channel under the message (a stop): not an attempt that failed.
    The message stays pending and is sent at the next start."""


# A mail server refuses far less; a file this large is an error, not memory to fill.
ATTACH_CAP = 100 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    name: str
    path: Path
    mime: str = "application/octet-stream"
    # The folder faxd was given that holds the file (sent/, the inbox …): the file is read
    # without following a link below it, nor at the file itself.
    root: Path | None = None


def open_attachment(item: Attachment) -> int:
    """A read descriptor of an attached or printed file. A link on the way, or in its
    place, is refused: someone who may write in sent/ or the inbox could otherwise have
    faxd mail or print any file it can read, its configuration included."""
    try:
        if item.root is not None:
            return contained.open_beneath(item.root, item.path, single_link=False)
        return contained.open_file(item.path)
    except NotRegularFileError as exc:
        raise ChannelError(f"{item.name} was not attached: {exc}", permanent=True) from None
    except OSError as exc:
        raise ChannelError(f"could not read {item.name} ({exc.strerror})") from None


def read_attachment(item: Attachment) -> bytes:
    fd = open_attachment(item)
    try:
        return contained.read_all(fd, ATTACH_CAP, item.name, "mail")
    except NotRegularFileError as exc:
        raise ChannelError(str(exc), permanent=True) from None
    except OSError as exc:
        raise ChannelError(f"could not read {item.name} ({exc.strerror})") from None
    finally:
        os.close(fd)


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
    print_file: Attachment | None = None  # what a print channel prints
    created_at: float | None = None  # when the event happened: the mail's Date, every attempt


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> None:
        """Return once the channel accepted the message; raise ChannelError otherwise."""

    def close(self) -> None:
        """Drop any connection kept between messages."""
