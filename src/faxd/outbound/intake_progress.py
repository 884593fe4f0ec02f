"""Whether documents are still being taken in.

A spool folder on a share whose server went away (a hard NFS mount) blocks whichever
thread reads it, for good: the intake loop in a scan or a stat, a taker in its copy. No
thread can be cut loose from such a read, and a restart would hang on the same share, so
faxd keeps uploading, tracking and polling the inbox, and says what is stuck instead.
"""

from __future__ import annotations

import threading
from pathlib import Path

from faxd.clock import Clock


class IntakeProgress:
    """The intake loop's last turn and the takes under way, with when each began."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._turned = clock.monotonic()
        self._takes: dict[Path, float] = {}

    def turned(self) -> None:
        """The intake loop went round once (its thread only)."""
        self._turned = self._clock.monotonic()

    def take_started(self, path: Path) -> None:
        with self._lock:
            self._takes[path] = self._clock.monotonic()

    def take_ended(self, path: Path) -> None:
        with self._lock:
            self._takes.pop(path, None)

    def stalled(self, loop_limit: float, take_limit: float) -> str | None:
        """What is stuck, in words, or None: the loop silent for `loop_limit` seconds, or
        the oldest take under way for `take_limit`."""
        now = self._clock.monotonic()
        silent = now - self._turned
        if silent >= loop_limit:
            return f"the intake has not gone round for {silent:.0f} s"
        with self._lock:
            oldest = min(self._takes.items(), key=lambda item: item[1], default=None)
        if oldest is not None and now - oldest[1] >= take_limit:
            path, began = oldest
            return f"taking {path} has not finished for {now - began:.0f} s"
        return None
