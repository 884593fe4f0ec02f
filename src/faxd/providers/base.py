"""The interfaces a provider may offer: a sender, an inbox source and a report sweeper.

They are runtime-checkable, so the daemon and the engine ask `isinstance(p, InboxSource)`
for a capability; providers/registry.py says which provider type offers which.

Every method raises only faxd's own provider errors: RejectedError (permanent),
AuthError (pause the provider), TransientError (retry; `retry_after` when the provider
said so), OutcomeUnknownError (the request may have taken effect)."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from faxd.model import Accepted, Limits, OutgoingFile, ReceivedDocument, RemoteStatus, Submission

# Entered by `Sender.submit` once the request is built, right before it leaves, and left
# once the provider answered: the engine takes an upload slot and commits SUBMITTING
# there, so that neither waits for a request to be built. A gate that must keep the
# request back (cancelled, paused, stopping) raises GateShut, which submit lets through.
Gate = Callable[[], AbstractContextManager[object]]


class GateShut(Exception):
    """The gate kept the request back: nothing was sent."""


def open_gate() -> AbstractContextManager[object]:
    """The gate of a caller that holds nothing back."""
    return nullcontext()


@runtime_checkable
class Sender(Protocol):
    name: str
    supports_dft: bool
    limits: Limits

    def prepare(self, files: Sequence[OutgoingFile], workdir: Path) -> tuple[OutgoingFile, ...]:
        """Turn checked files into what this provider takes (Retarus: images to PDF).

        Raises RejectedError when a file cannot be converted here."""
        ...

    def check_dft(self, number: str) -> bool: ...

    def submit(self, submission: Submission, gate: Gate = open_gate) -> Accepted: ...

    def status(self, remote_id: str) -> RemoteStatus: ...

    def find_submission(
        self, submission: Submission, sent_after: datetime, exclude: Container[str]
    ) -> Accepted | None:
        """Look for a transmission the provider may have accepted although the answer was lost.

        `sent_after` is when the upload started (minus a little skew); `exclude` holds the
        remote ids faxd already knows, so they are not claimed twice. None: not found."""
        ...

    def cleanup(self, remote_id: str) -> None:
        """Forget a finished transmission at the provider (Retarus: delete its report)."""
        ...

    def close(self) -> None: ...


class DocumentList(list[ReceivedDocument]):
    """The documents of a listing; `unreadable`: how many more records it listed that could
    not be read and were left out (they still count against the page limit)."""

    unreadable: int = 0


def unreadable_in(listed: list[ReceivedDocument]) -> int:
    """How many records a listing left out as unreadable (a plain list: none)."""
    return listed.unreadable if isinstance(listed, DocumentList) else 0


@runtime_checkable
class InboxSource(Protocol):
    name: str
    page_limit: int  # a listing returning this many may be truncated: split the window

    def list_received(
        self, start: datetime, end: datetime, *, fractions: bool = False
    ) -> list[ReceivedDocument]:
        """Documents whose time is in [start, end]; `fractions` keeps the bounds'
        fractions of a second (the provider may refuse them: RejectedError)."""
        ...

    def fetch(self, file_id: str, dest: BinaryIO) -> str | None:
        """Stream a file into `dest`; return the file name the provider gave, if any."""
        ...

    def delete(self, remote_id: str) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ReportSweeper(Protocol):
    """A provider that lists finished transmissions in one call, so results the
    per-transmission polling missed are caught (Retarus's report listing)."""

    def sweep(self) -> list[tuple[str, RemoteStatus]]:
        """(the reference faxd gave the transmission, or the remote id; its final status)."""
        ...
