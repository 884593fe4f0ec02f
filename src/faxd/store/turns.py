"""Turns at the journal's one connection, with a way to the front for a caller that holds
a provider's upload slot.

Every reader and writer shares one SQLite connection, so they take turns. While a burst
of documents is taken in, a dozen threads queue for it and a turn came after about ten
milliseconds; a thread that holds one of the provider's upload slots meanwhile keeps one
of its few connections idle for that long, on every upload. A caller that asks to go
first is therefore given the next turn: while one waits, no ordinary caller gets one.
(A plain lock cannot promise that: Python hands a released lock to whichever thread runs
first, and under load that is rarely the one that was woken.) Nothing is reordered
inside a thread, and a thread that already has the turn keeps it through nested calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    """A lock with two queues: callers that go first, then everyone else."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._first = threading.Condition(self._mutex)
        self._plain = threading.Condition(self._mutex)
        self._busy = False
        self._waiting_first = 0
        self._mine = threading.local()

    @contextmanager
    def turn(self, *, first: bool = False) -> Iterator[None]:
        """Hold the turn; a thread that already holds it just goes on."""
        depth: int = getattr(self._mine, "depth", 0)
        if not depth:
            self._take(first)
        self._mine.depth = depth + 1
        try:
            yield
        finally:
            self._mine.depth = depth
            if not depth:
                self._give_back()

    def holding(self) -> bool:
        """Whether this thread holds the turn."""
        return bool(getattr(self._mine, "depth", 0))

    def _take(self, first: bool) -> None:
        with self._mutex:
            if first:
                self._waiting_first += 1
                try:
                    while self._busy:
                        self._first.wait()
                except BaseException:  # interrupted while waiting: pass the turn on
                    self._waiting_first -= 1
                    if not self._busy and not self._waiting_first:
                        self._plain.notify()
                    raise
                self._waiting_first -= 1
            else:
                while self._busy or self._waiting_first:
                    self._plain.wait()
            self._busy = True

    def _give_back(self) -> None:
        with self._mutex:
            self._busy = False
            if self._waiting_first:
                self._first.notify()
            else:
                self._plain.notify()
