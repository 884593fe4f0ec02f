"""Writes that several threads ask for at once, made in one commit.

A thread that has something to write queues it. If no thread is writing, it becomes the
writer: it waits for the journal's turn and hands everything queued by then, its own
included, to `write` in one go. The others wait for that writer rather than for a turn
each, and whatever came while it wrote goes with the next one. Each entry learns the
commit that wrote it, or its own error.

Under a burst the intake's takers queued one by one behind the uploads for the journal's
turn; taking turns as a group, their waits overlap (faxd.store.journal_jobs.create_job)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from faxd.store.turns import Turns

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    """One thing to write, and how that ended: `write` sets `seq` (the commit that wrote
    it) or `error` (its own failure) for each entry of the batch it is handed."""

    item: T
    seq: int = 0
    error: BaseException | None = None
    done: bool = False


class SharedCommits(Generic[T]):
    def __init__(self, turns: Turns, write: Callable[[list[Entry[T]]], None]) -> None:
        """`write` runs while the caller holds the turn; it must give every entry a `seq`
        or an `error`, and raise only what must end the writing thread (an interrupt)."""
        self._turns = turns
        self._write = write
        self._cond = threading.Condition(threading.Lock())
        self._queued: list[Entry[T]] = []
        self._writing = False

    def run(self, item: T) -> Entry[T]:
        """Have `item` written, by this thread or another; returns once it is (or failed)."""
        mine = Entry(item)
        if self._turns.holding():
            # Inside a turn of its own: waiting for a writer that waits for this very turn
            # would never end, so it writes at once.
            self._write_batch([mine])
            return mine
        if not self._queue(mine):
            return mine
        try:
            with self._turns.turn():
                with self._cond:
                    batch, self._queued = self._queued, []
                self._write_batch(batch)
        finally:
            with self._cond:
                if not mine.done:  # interrupted before its turn: not written, not queued
                    self._queued.remove(mine)
                self._writing = False
                self._cond.notify_all()
        return mine

    def queued(self) -> int:
        """Entries waiting for a writer (for tests)."""
        with self._cond:
            return len(self._queued)

    def writing(self) -> bool:
        """Whether a thread is the writer (for tests)."""
        with self._cond:
            return self._writing

    def _queue(self, mine: Entry[T]) -> bool:
        """True when this thread is to write (no one else is), False once another has."""
        with self._cond:
            self._queued.append(mine)
            while self._writing and not mine.done:
                self._cond.wait()
            lead = not mine.done
            self._writing = self._writing or lead
        return lead

    def _write_batch(self, batch: list[Entry[T]]) -> None:
        try:
            self._write(batch)
        finally:
            with self._cond:
                for entry in batch:
                    entry.done = True
