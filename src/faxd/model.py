"""Value types shared by every layer: states, provider requests and answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from faxd.settings import RetarusOptions


class Method(StrEnum):
    DFT = "dft"
    FAX = "fax"


class TxState(StrEnum):
    """The life of one (document, recipient) transmission."""

    READY = "ready"  # waiting for a worker
    WAITING = "waiting"  # backing off until next_attempt_at
    SUBMITTING = "submitting"  # committed before the request leaves
    OUTCOME_UNKNOWN = "outcome_unknown"  # may have been accepted: ask, never re-upload
    SUBMITTED = "submitted"  # the provider's id is known; tracking status
    DELIVERED = "delivered"
    FAILED = "failed"


FINAL_TX_STATES = frozenset({TxState.DELIVERED, TxState.FAILED})


class JobState(StrEnum):
    """The life of one document (derived from its transmissions, plus archiving)."""

    READY = "ready"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"  # every recipient delivered; archive to sent/ pending or done
    FAILED = "failed"  # any recipient failed; archive to failed/ pending or done
    HELD = "held"  # the misdial guard stopped it before sending; filed in hold/


@dataclass(frozen=True)
class OutgoingFile:
    """One file of a transmission, as the provider will see it."""

    path: Path
    name: str  # the name sent to the provider
    mime: str  # sniffed from the content, never guessed from the name
    size: int


@dataclass(frozen=True)
class Submission:
    """Everything a provider needs to send one transmission to one recipient."""

    key: str  # faxd's own id of this transmission (job id + recipient index); unique
    job_id: str
    sender: str  # E.164
    recipient: str  # E.164
    files: tuple[OutgoingFile, ...]
    dft: bool  # allow Direct File Transfer
    reference: str | None = None
    retarus: RetarusOptions | None = None  # how Retarus renders it; other providers ignore it
    # Not to be transmitted after this (aware); faxd stops waiting soon after.
    valid_until: datetime | None = None


@dataclass(frozen=True)
class Accepted:
    """The provider took the transmission."""

    remote_id: str
    method: Method


@dataclass(frozen=True)
class RemoteStatus:
    """The provider's word on a transmission."""

    remote_id: str
    status: str  # the provider's own status word, kept in reports
    final: bool
    delivered: bool
    reason: str | None = None
    method: Method | None = None

    def about(self, remote_id: str) -> bool:
        """Whether this status is about `remote_id`: providers' ids (GUIDs, Retarus job
        ids) do not depend on the case of their letters."""
        return self.remote_id.casefold() == remote_id.casefold()


@dataclass(frozen=True)
class ReceivedFile:
    file_id: str
    name: str


@dataclass(frozen=True)
class ReceivedDocument:
    """A document the provider lists as received (or sent: the poller filters)."""

    remote_id: str
    time: datetime  # aware
    sender: str
    recipient: str
    status: str
    type: str
    files: tuple[ReceivedFile, ...]
    # Every recipient the provider lists ("String or Array of String"); `recipient` is the
    # first. Empty when built by code that knows only one number: then it is `recipient`.
    recipients: tuple[str, ...] = ()

    def all_recipients(self) -> tuple[str, ...]:
        return self.recipients or ((self.recipient,) if self.recipient else ())


@dataclass(frozen=True)
class Limits:
    """What a provider refuses, checked before any upload."""

    max_files: int
    max_file_size: int
    # extension (lower case, no dot) -> MIME types the provider accepts for it
    extensions: dict[str, frozenset[str]]
    # extensions faxd converts to PDF before sending (Retarus: images)
    convertible: frozenset[str] = frozenset()
