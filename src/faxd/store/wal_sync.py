"""Group commit for the journal: every commit is on disk before anything it allows
happens, and one fsync covers many.

In WAL mode at synchronous=NORMAL, SQLite's COMMIT only appends to the WAL file. The
journal counts each commit while it holds its turn (`counted`), and a caller that must not
go on before its commit is durable waits here (`wait`) outside the turn: the first waiter
fdatasyncs the WAL for every commit made so far, and the others wait for that sync or
start the next. The WAL is written in order, so a sync covers every commit counted before
it began. Without WAL (a file system without shared memory) SQLite syncs each commit
itself at synchronous=FULL, and nothing waits here."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class WalSync:
    """The commits made on one journal connection, and how many are known to be on disk."""

    def __init__(self, db_path: Path) -> None:
        self.grouped = False  # set by the journal once SQLite runs in WAL mode
        self.committed = 0  # commits made (counted under the journal's turn)
        self._wal = Path(f"{db_path.absolute()}-wal")  # SQLite's name for it
        self._db_file = self._wal.with_name(db_path.name)
        self._synced = 0  # commits known to be on disk
        self._syncing = False
        self._failed = 0  # the last commit a failed fsync was meant to cover
        self._cond = threading.Condition(threading.Lock())

    def counted(self) -> int:
        """Count a commit just made (the caller holds the journal's turn); its number."""
        self.committed += 1
        return self.committed

    def wait(self, seq: int) -> OSError | None:
        """Wait until commit number `seq` is on disk: the first waiter fsyncs the WAL for
        every commit made so far, later ones wait for that fsync or start the next one.
        Returns the error of a failed fsync that was to cover `seq`."""
        if not self.grouped or self._synced >= seq:
            return None
        with self._cond:
            while self._synced < seq:
                if self._failed >= seq:
                    return OSError(f"fsync of {self._wal} failed")
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing = True
                target = self.committed  # every commit counted has reached the WAL file
                self._cond.release()
                error: OSError | None = None
                try:
                    self.sync_to_disk()
                except OSError as exc:
                    error = exc
                finally:
                    self._cond.acquire()
                    self._syncing = False
                    self._settle(target, error)
                    self._cond.notify_all()
                if error is not None:
                    return error
        return None

    def sync_own(self, seq: int) -> OSError | None:
        """Make commit `seq` durable with an fdatasync of this thread's own, at once,
        instead of queueing behind the group: for a caller that holds an upload slot.
        A local disk syncs the WAL in a tenth of a millisecond, while waking a waiter after
        someone else's sync took milliseconds under the load of a burst."""
        if not self.grouped or self._synced >= seq:
            return None
        target = self.committed  # every commit counted so far is in the WAL file
        error: OSError | None = None
        try:
            self.sync_to_disk()
        except OSError as exc:
            error = exc
        with self._cond:
            if self._settle(target, error):
                self._cond.notify_all()
        return error

    def _settle(self, target: int, error: OSError | None) -> bool:
        """Record how a sync meant to cover commits up to `target` ended (the caller holds
        _cond); True when it made more commits durable than were known to be."""
        if error is not None:
            self._failed = max(self._failed, target)
            return False
        advanced = target > self._synced
        self._synced = max(self._synced, target)
        return advanced

    def sync_to_disk(self) -> None:
        """fdatasync the WAL file (opened by name: SQLite owns its descriptor), as SQLite
        itself would: its data and size, not its times, so no file system journal commit
        is forced when the WAL is rewritten in place."""
        try:
            fd = os.open(self._wal, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # nothing written through the WAL yet
            fd = os.open(self._db_file, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)
