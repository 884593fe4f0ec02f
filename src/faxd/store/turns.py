"""Turns at the journal's one connection, with a way to the front for a caller that holds
a provider's upload slot.

Every reader and writer shares one SQLite connection, so they take turns. While a burst
of documents is taken in, a dozen threads queue for it and a turn comes after about ten
milliseconds; a thread that holds one of the provider's upload slots meanwhile keeps one
of its few connections idle for that long, on every upload. Ordinary callers therefore
queue at a gate, one at a time, before the lock itself: a caller that asks to go first
waits for at most the holder and one ordinary caller. Nothing is reordered inside a
thread, and a thread that already has the turn keeps it through nested calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    """A non-fair lock with two queues: ordinary callers through a gate, urgent ones not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gate = threading.Lock()
        self._mine = threading.local()

    @contextmanager
    def turn(self, *, first: bool = False) -> Iterator[None]:
        """Hold the turn; a thread that already holds it just goes on. The gate is only
        ever waited for by a thread that holds neither lock, so the two cannot deadlock."""
        depth: int = getattr(self._mine, "depth", 0)
        if depth:
            self._mine.depth = depth + 1
            try:
                yield
            finally:
                self._mine.depth = depth
            return
        if first:
            self._lock.acquire()
        else:
            with self._gate:
                self._lock.acquire()
        self._mine.depth = 1
        try:
            yield
        finally:
            self._mine.depth = 0
            self._lock.release()
