"""What one poll cycle did (PollResult, which the cycle's workers share) and the error that
ends a cycle when a received file cannot be written (InboxWriteError)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from faxd.errors import FaxdError


class InboxWriteError(FaxdError):
    """A received file could not be written into the inbox (disk full, permissions)."""


@dataclass
class PollResult:
    """What one poll cycle did."""

    windows: int = 0
    truncated_windows: int = 0
    listed: int = 0
    delivered: int = 0  # files newly written into the inbox
    recovered: int = 0  # files found in place after a crash and committed
    known: int = 0  # files already delivered earlier
    outbound: int = 0  # documents faxd sent itself
    foreign: int = 0  # documents for numbers that are not ours
    unavailable: int = 0  # files the provider refused to hand out
    deleted: int = 0  # documents deleted at the provider
    tmp_removed: int = 0
    not_ready: int = 0  # documents listed before their files are there
    retry: int = 0  # downloads past their deadline (or stopped): tried again later
    file_errors: int = 0  # server errors for single files: tried again later
    error: str | None = None

    def count(self, name: str) -> None:
        """Add one to a counter; the workers of a cycle share the result."""
        with _COUNT_LOCK:
            setattr(self, name, getattr(self, name) + 1)


_COUNT_LOCK = threading.Lock()
