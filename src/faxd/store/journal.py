"""The job journal: SQLite in WAL mode, each commit on disk before its caller goes on
(faxd.store.wal_sync: one fsync of the WAL for many commits), so a committed state
survives a crash or power loss. Every effect (upload, move) happens only after the
state that allows it is committed here.

One connection shared by the daemon's threads, which take turns at it (faxd.store.turns:
a commit that holds a provider's upload slot goes first): writes are small and short,
and one writer is what SQLite serialises anyway.

This module opens the journal and holds its transactions, reads and write failures; what
is written and read is in the parts mixed into Journal: journal_jobs (creating jobs, their
rows), journal_transmissions (the state machine's steps, provider ids), journal_queries
(reads for the engine, status and commands), journal_startup (reconciliation),
journal_notes (key/value notes) and journal_retries (releases and retries)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import structlog

from faxd.core.job_payload import NewJob as NewJob  # the journal's callers import it here
from faxd.errors import FaxdError
from faxd.store import audit_outbox
from faxd.store.journal_failures import LOCKED, is_write_failure
from faxd.store.journal_failures import (
    JournalWriteError as JournalWriteError,  # the journal's callers import it here
)
from faxd.store.journal_jobs import Creation, JournalJobs
from faxd.store.journal_notes import JournalNotes
from faxd.store.journal_queries import JournalQueries
from faxd.store.journal_retries import JournalRetries
from faxd.store.journal_schema import COLUMN_MIGRATIONS, SCHEMA
from faxd.store.journal_startup import JournalStartup
from faxd.store.journal_transmissions import JournalTransmissions
from faxd.store.shared_commits import SharedCommits
from faxd.store.turns import Turns
from faxd.store.wal_sync import WalSync

log = structlog.get_logger("faxd.store.journal")


# Writes must succeed this long after the last failure before the journal is called
# writable again in the log.
WRITE_QUIET = 10.0


class JournalOpenError(FaxdError):
    """The journal file cannot be opened at all (damaged, or not faxd's to write)."""


def open_journal_file(path: Path, *, readonly: bool = False) -> Journal:
    """Journal(path), with one sentence naming the file and what to do when it cannot be
    opened, instead of SQLite's own words in a traceback."""
    try:
        try:
            return _opened(path, readonly=readonly)
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if not readonly or code != sqlite3.SQLITE_READONLY_ROLLBACK:
                raise
        _undo_unfinished_write(path)
        return _opened(path, readonly=readonly)
    except sqlite3.DatabaseError as exc:
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
            raise JournalOpenError(
                f"the journal {path} is damaged ({exc}).",
                "Stop faxd, move the file aside (keep it: it records what was sent) and "
                "start faxd again with a new journal; documents still in the spool folders "
                "are then sent as new, so check them first.",
            ) from None
        if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN):
            raise JournalOpenError(
                f"the journal {path} cannot be opened ({exc}).",
                f"It and its folder {path.parent} must exist and be writable by faxd's "
                f"user (e.g. chown -R faxd: {path.parent}).",
            ) from None
        raise JournalOpenError(
            f"the journal {path} cannot be opened ({exc}).",
            "Check the file and free space on its disk.",
        ) from None
    except OSError as exc:
        raise JournalOpenError(
            f"the journal's folder {path.parent} cannot be created ({exc.strerror}).",
            "Create it, writable by faxd's user, or correct state_dir.",
        ) from None


def _uri(path: Path, mode: str) -> str:
    # A folder named "fax #2" or "50%" is a fragment or an escape in a URI: the read-only
    # commands opened another file, or none. Bytes, so a name that is not UTF-8 survives.
    return f"file:{quote(os.fsencode(path))}?mode={mode}"


def _opened(path: Path, *, readonly: bool) -> Journal:
    journal = Journal(path, readonly=readonly)
    try:
        journal.pragma("schema_version")  # a read-only open reads nothing until asked
    except BaseException:
        journal.close()
        raise
    return journal


def _undo_unfinished_write(path: Path) -> None:
    """A faxd killed in the middle of a write (while it created the journal, before WAL
    mode was on; or at any commit on a file system without WAL) leaves a hot rollback
    journal, which SQLite undoes only at a writer's open: a reader refuses the file until
    then. Undoing it changes nothing committed, and is what the daemon's next start would
    do (SQLite's locks let one of the two do it, should it start meanwhile)."""
    try:
        db = sqlite3.connect(_uri(path, "rw"), uri=True, timeout=5.0)
        try:
            db.execute("PRAGMA schema_version").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise JournalOpenError(
            f"the journal {path} holds a write that a stopped faxd left unfinished, which "
            f"only a user who may write the journal can undo ({exc}).",
            "Start faxd (it undoes the write), or run this command as faxd's user.",
        ) from None


class Journal(
    JournalJobs,
    JournalTransmissions,
    JournalQueries,
    JournalStartup,
    JournalNotes,
    JournalRetries,
):
    """The durable record of every job. Thread-safe."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._turns = Turns()
        self._status = threading.Lock()  # the write_* counters and the outage flag
        self.write_error: str | None = None  # why the last write failed, until one succeeds
        self.write_failures = 0  # every failed write counts (the engine backs off on them)
        self.write_successes = 0
        self._outage_said = False
        self._failed_at = 0.0
        # Group commit (faxd.store.wal_sync): commits made, and made durable.
        self._durable = WalSync(path)
        # create_job: jobs that takers create at once share a commit.
        self._creations = SharedCommits[Creation](self._turns, self._create_batch)
        self._tables: set[str] = set()  # seen to exist (tables are never dropped)
        self._readonly = readonly
        if readonly:
            self._db = sqlite3.connect(_uri(path, "ro"), uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 5000")
        if not readonly:
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            # A commit is on disk before the upload it allows leaves the machine. In WAL
            # mode, COMMIT at synchronous=NORMAL only appends to the WAL file; transaction()
            # then fsyncs that file itself, outside the lock, once for every commit made
            # meanwhile by any thread, and returns only when its own commit is covered.
            # Without WAL (a file system without shared memory), SQLite syncs each commit.
            self._durable.grouped = str(mode).lower() == "wal"
            grouped = self._durable.grouped
            self._db.execute(f"PRAGMA synchronous = {'NORMAL' if grouped else 'FULL'}")
            self._db.execute("PRAGMA foreign_keys = ON")
            claims_new = not self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'remote_claims'"
            ).fetchone()
            self._db.executescript(SCHEMA)
            self._add_missing_columns()
            if claims_new:
                self._claim_known_remote_ids()
            if self._durable.grouped:
                self._durable.sync_to_disk()  # the schema and migrations just written

    def _add_missing_columns(self) -> None:
        # A journal written by an older faxd lacks columns added since: add them in place,
        # so an upgrade never needs a manual step and never loses a row.
        for table, column, decl in COLUMN_MIGRATIONS:
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

    def _claim_known_remote_ids(self) -> None:
        # Journals written before remote_claims existed: their ids are claimed by the
        # transmission that recorded them first. Only when the table is new: it reads
        # every transmission, seconds at every start after a year (an id recorded without
        # a claim counts as taken all the same, see claim_remote_id and has_remote_id).
        self._db.execute(
            "INSERT OR IGNORE INTO remote_claims(provider, remote_id, job_id, idx) "
            "SELECT j.provider, t.remote_id, t.job_id, t.idx FROM transmissions t "
            "JOIN jobs j ON j.id = t.job_id WHERE t.remote_id IS NOT NULL "
            "ORDER BY t.submitted_at"
        )

    def close(self) -> None:
        with self._turns.turn():
            self._db.close()

    @contextmanager
    def transaction(
        self, *, durable: bool = True, first: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """durable=False returns once committed, without waiting for the disk: for a
        commit nothing outside faxd follows, covered by the next fsync (the WAL is written
        in order, so any later commit that waits makes this one durable too).
        first=True: the caller holds an upload slot, and goes before ordinary callers
        (see faxd.store.turns)."""
        with self._turns.turn(first=first):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._rollback()
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if not is_write_failure(exc):
                    raise
                self._rollback()
                self._write_failed(exc)
            seq = self._durable.counted()
        # Outside the lock: other threads commit while this one waits for the disk, and
        # the next fsync covers them all. (A caller holding the lock still waits here.)
        failure = None
        if durable:
            failure = self._durable.sync_own(seq) if first else self._durable.wait(seq)
        if failure is not None:
            self._write_failed(failure)
        self._written()

    def _written(self) -> None:
        # Under its own lock, not the journal's: queueing again behind every reader and
        # writer just to count a success doubled each commit's wait under load.
        with self._status:
            self.write_error = None
            self.write_successes += 1
            # Only after a quiet spell: on a nearly full disk small writes succeed between
            # failing large ones, and one outage is said once.
            back = self._outage_said and time.monotonic() - self._failed_at >= WRITE_QUIET
            if back:
                self._outage_said = False
        if back:
            log.warning("the journal can be written again; faxd carries on", journal=str(self.path))

    def _rollback(self) -> None:
        if self._db.in_transaction:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _write_failed(self, exc: sqlite3.OperationalError | OSError) -> NoReturn:
        """A full or failing state disk: said once, then JournalWriteError for each write
        until one succeeds (the engine starts nothing meanwhile, see probe_write)."""
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and (code & 0xFF) in LOCKED:
            remedy = "end the program that holds it open (an sqlite3 shell, a backup tool)"
        else:
            remedy = f"free space on the disk of {self.path.parent} or fix its permissions"
        sentence = (
            f"the journal {self.path} cannot be written ({exc}); faxd starts no upload or "
            f"status query until it can and tries again by itself: {remedy}."
        )
        with self._status:
            first = not self._outage_said
            self._outage_said = True
            self._failed_at = time.monotonic()
            self.write_error = sentence
            self.write_failures += 1
        if first:
            log.error("journal write failed", problem=sentence)
        raise JournalWriteError(sentence) from None

    def query(
        self, sql: str, params: Sequence[Any] = (), *, durable: bool = True
    ) -> list[sqlite3.Row]:
        """durable=False: for a reader that acts on what it read only after a commit of
        its own, whose fsync covers every earlier commit (the WAL is written in order), or
        that only times its next look."""
        return self.query_many((sql, params), durable=durable)[0]

    def query_many(
        self, *statements: tuple[str, Sequence[Any]], durable: bool = True
    ) -> list[list[sqlite3.Row]]:
        """Several reads under one lock (one snapshot), and one wait for the disk."""
        with self._turns.turn():
            results = [self._read(sql, params) for sql, params in statements]
            seq = self._durable.committed
        if durable:
            # Nothing is acted on before it is durable: a row another thread committed a
            # moment ago is returned once the fsync covering it is done (under load each
            # wait is an fsync or two). A failed fsync is the writer's to report.
            self._durable.wait(seq)
        return results

    def _read(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        try:
            return list(self._db.execute(sql, params))
        except sqlite3.OperationalError as exc:
            # A reader never makes tables: a journal left empty by a first start on a full
            # disk, or written by an older faxd, has recorded nothing of that kind yet.
            if self._readonly and str(exc).startswith("no such table"):
                return []
            raise

    def pragma(self, name: str) -> Any:
        with self._turns.turn():
            return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def has_table(self, name: str) -> bool:
        """Whether the journal has table `name`: a read-only journal written by an older
        faxd lacks the newer tables."""
        # Once seen, a table is remembered: the misdial check asks for every document, and
        # each look waited for the journal's turn behind the uploads (a tenth of a
        # backlog's samples).
        if name in self._tables:
            return True
        rows = self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        if rows:
            self._tables.add(name)
        return bool(rows)

    def audit(self, event: str, **data: Any) -> None:
        """Commit an audit event that records no other journal state (a configuration
        loaded, a provider paused, a document put back for retry)."""
        with self.transaction() as db:
            audit_outbox.record(db, event, **data)
