"""The job journal: SQLite in WAL mode, each commit on disk before its caller goes on
(faxd.store.wal_sync: one fsync of the WAL for many commits), so a committed state
survives a crash or power loss. Every effect (upload, move) happens only after the
state that allows it is committed here.

One connection shared by the daemon's threads, which take turns at it (faxd.store.turns:
a commit that holds a provider's upload slot goes first): writes are small and short,
and one writer is what SQLite serialises anyway."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Collection, Container, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import structlog

from faxd.core.job_payload import NewJob as NewJob  # the journal's callers import it here
from faxd.core.job_payload import files_to_json
from faxd.core.transitions import TxUpdate, is_legal
from faxd.errors import FaxdError
from faxd.model import FINAL_TX_STATES, JobState, Method, TxState
from faxd.store import audit_outbox
from faxd.store.journal_notes import JournalNotes, moved_aside_key
from faxd.store.journal_retries import JournalRetries, delivered_before
from faxd.store.journal_rows import (
    DueTx,
    JobRow,
    QueueCounts,
    TxRow,
    decode_path,
    encode_path,
    job_row,
    tx_row,
)
from faxd.store.journal_schema import COLUMN_MIGRATIONS, SCHEMA
from faxd.store.outbox import NewDelivery
from faxd.store.outbox import insert as insert_outbox
from faxd.store.rows import in_chunks, is_text
from faxd.store.shared_commits import Entry, SharedCommits
from faxd.store.turns import Turns
from faxd.store.wal_sync import WalSync

log = structlog.get_logger("faxd.store.journal")


ACTIVE_TX_STATES = (
    TxState.READY,
    TxState.WAITING,
    TxState.SUBMITTING,
    TxState.OUTCOME_UNKNOWN,
    TxState.SUBMITTED,
)


# The reads of one job and its transmissions, alone or together with others.
_JOB = "SELECT * FROM jobs WHERE id = ?"
_JOB_TXS = "SELECT * FROM transmissions WHERE job_id = ? ORDER BY idx"
_TX = "SELECT * FROM transmissions WHERE job_id = ? AND idx = ?"
_IN_FLIGHT = (TxState.SUBMITTING, TxState.OUTCOME_UNKNOWN, TxState.SUBMITTED)


# Writes must succeed this long after the last failure before the journal is called
# writable again in the log.
WRITE_QUIET = 10.0


class JournalWriteError(FaxdError):
    """The journal could not be written (a full or failing disk, lost permissions). Not a
    bug: the write is tried again once the journal takes writes again."""


# SQLite's primary result codes that mean the disk, not the statement, is the problem.
_WRITE_FAILURES = frozenset(
    {
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        # Held by another program past busy_timeout (an sqlite3 shell, a backup tool):
        # waited out like a full disk, never the end of the daemon.
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    }
)
_LOCKED = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _is_write_failure(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _WRITE_FAILURES


class JournalOpenError(FaxdError):
    """The journal file cannot be opened at all (damaged, or not faxd's to write)."""


def open_journal_file(path: Path, *, readonly: bool = False) -> Journal:
    """Journal(path), with one sentence naming the file and what to do when it cannot be
    opened, instead of SQLite's own words in a traceback."""
    try:
        journal = Journal(path, readonly=readonly)
        journal.pragma("schema_version")  # a read-only open reads nothing until asked
        return journal
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


class IllegalTransition(RuntimeError):
    """A bug: code asked for a state move the state machine does not allow."""

    def __init__(self, job_id: str, idx: int, before: TxState, after: TxState) -> None:
        super().__init__(
            f"transmission {job_id}-{idx}: {before.value} -> {after.value} is not a legal move"
        )


@dataclass(frozen=True)
class _Creation:
    """A job for create_job to write, with the notices its creation causes."""

    job: NewJob
    outbox: Sequence[NewDelivery]


def _for_one(failure: BaseException, job_id: str) -> BaseException:
    """The batch's failure as an exception of the one job's own: several threads raise
    it, and an exception object raised in two threads at once mixes their tracebacks."""
    if isinstance(failure, JournalWriteError):
        return JournalWriteError(str(failure))
    error = RuntimeError(f"the journal could not record job {job_id}: {failure!r}")
    error.__cause__ = failure
    return error


class Journal(JournalNotes, JournalRetries):
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
        self._creations = SharedCommits[_Creation](self._turns, self._create_batch)
        self._tables: set[str] = set()  # seen to exist (tables are never dropped)
        self._readonly = readonly
        if readonly:
            uri = f"file:{path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
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
                if not _is_write_failure(exc):
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
        if code is not None and (code & 0xFF) in _LOCKED:
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

    # -- jobs --------------------------------------------------------------------------

    def create_job(self, job: NewJob, outbox: Sequence[NewDelivery] = ()) -> None:
        """`outbox`: notices this job's creation causes (a refusal), committed with it.

        Jobs that several takers create at once share one commit (faxd.store.shared_commits),
        each under its own savepoint, so one job's failure is its own; each taker goes on
        only once the fsync covering its job is done."""
        mine = self._creations.run(_Creation(job, tuple(outbox)))
        if mine.error is not None:
            raise mine.error
        failure = self._durable.wait(mine.seq)
        if failure is not None:
            self._write_failed(failure)
        self._written()

    def _create_batch(self, batch: list[Entry[_Creation]]) -> None:
        """Write `batch` in one commit (the caller holds the turn); each entry learns its
        commit's number or its own error."""
        failure: BaseException | None = None
        try:
            with self.transaction(durable=False) as db:
                for entry in batch:
                    db.execute("SAVEPOINT job")
                    try:
                        self._insert_job(db, entry.item.job, entry.item.outbox)
                    except Exception as exc:  # the job's own error, for its owner
                        if isinstance(exc, sqlite3.OperationalError) and _is_write_failure(exc):
                            raise  # the disk's: the whole commit fails
                        db.execute("ROLLBACK TO job")
                        entry.error = exc
                    db.execute("RELEASE job")
        except BaseException as exc:  # each waiting taker raises it
            failure = exc
        seq = self._durable.committed
        for entry in batch:
            entry.seq = seq
            if failure is not None and entry.error is None:
                entry.error = _for_one(failure, entry.item.job.id)
        if failure is not None and not isinstance(failure, Exception):
            raise failure  # an interrupt of the writing thread stays its own (the others fail)

    def _insert_job(
        self, db: sqlite3.Connection, job: NewJob, outbox: Sequence[NewDelivery]
    ) -> None:
        insert_outbox(db, outbox)
        # The document `faxd retry` put back (same place, same inode): this job is
        # its next attempt.
        db.execute(
            "UPDATE retries SET next_job = ? WHERE path = ? AND next_job IS NULL "
            "AND (ino IS NULL OR ? IS NULL OR ino = ?)",
            (job.id, encode_path(job.path), job.ino, job.ino),
        )
        error = job.error
        numbers = list(job.numbers)
        if not job.hold:
            # A recipient an earlier attempt reached is not faxed again; the report's
            # history names it.
            done = delivered_before(db, job.id)
            numbers = [n for n in job.numbers if n not in done]
            if job.numbers and not numbers and error is None:
                error = (
                    "every recipient was reached by an earlier attempt already "
                    f"({', '.join(sorted(set(done.values())))}); nothing was sent again."
                )
        state = JobState.FAILED if error else JobState.READY
        if job.hold:
            state = JobState.HELD
        db.execute(
            "INSERT INTO jobs(id, folder, rel_path, path, sidecar, attachments, files, "
            "provider, sender, dft, reference, rule, options, state, error, ino, "
            "received_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                job.id,
                encode_path(job.folder),
                encode_path(job.rel_path),
                encode_path(job.path),
                encode_path(job.sidecar) if job.sidecar else None,
                json.dumps(list(job.attachments)),
                files_to_json(job.files),
                job.provider,
                job.sender,
                int(job.dft),
                job.reference,
                job.rule,
                job.options.dumps(),
                state.value,
                error,
                job.ino,
                job.received_at,
                job.received_at if error else None,
            ),
        )
        for idx, number in enumerate(numbers):
            db.execute(
                "INSERT INTO transmissions(job_id, idx, number, state, next_attempt_at, "
                "updated_at) VALUES (?,?,?,?,?,?)",
                (
                    job.id,
                    idx,
                    number,
                    (TxState.FAILED if error else TxState.READY).value,
                    job.received_at,
                    job.received_at,
                ),
            )
        audit_outbox.record(
            db,
            "picked up",
            job=job.id,
            document=job.path,
            recipients=numbers,
            provider=job.provider,
        )
        if error:
            audit_outbox.record(db, "failed", job=job.id, error=error)

    def job(self, job_id: str) -> JobRow | None:
        if not is_text(job_id):
            return None  # typed by hand with bytes no job id has
        rows = self.query(_JOB, (job_id,))
        return job_row(rows[0]) if rows else None

    def active_paths(self) -> set[str]:
        """Every file an unarchived job holds: documents, sidecars and attachments."""
        held: set[str] = set()
        for row in self.query(
            "SELECT path, sidecar, attachments FROM jobs WHERE archived_at IS NULL"
        ):
            held.add(decode_path(row["path"]))
            if row["sidecar"]:
                held.add(decode_path(row["sidecar"]))
            held.update(json.loads(row["attachments"]))
        return held

    def unfiled_among(self, job_ids: Sequence[str]) -> set[str]:
        """Which of `job_ids` are jobs not filed yet (an index probe per id)."""
        found: set[str] = set()
        for chunk, marks in in_chunks(job_ids):
            rows = self.query(
                f"SELECT id FROM jobs WHERE archived_at IS NULL AND id IN ({marks})",  # noqa: S608
                chunk,
            )
            found.update(str(r["id"]) for r in rows)
        return found

    def unarchived_final_jobs(self) -> list[JobRow]:
        rows = self.query(
            # `+state`: look among the unarchived jobs (a few), not among every finished one.
            "SELECT * FROM jobs WHERE archived_at IS NULL AND +state IN (?, ?, ?)",
            (JobState.DELIVERED.value, JobState.FAILED.value, JobState.HELD.value),
        )
        return [job_row(r) for r in rows]

    def jobs(self, where: str = "1", params: Sequence[Any] = (), limit: int = 1000) -> list[JobRow]:
        rows = self.query(
            f"SELECT * FROM jobs WHERE {where} ORDER BY received_at DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [job_row(r) for r in rows]

    def unfiled_ids_all_final(self) -> list[str]:
        """Unfiled jobs with transmissions, every one of them final: one query, however
        many jobs a start-up finds under way."""
        marks = ",".join("?" for _ in FINAL_TX_STATES)
        rows = self.query(
            "SELECT j.id FROM jobs j WHERE j.archived_at IS NULL "  # noqa: S608
            "AND EXISTS (SELECT 1 FROM transmissions t WHERE t.job_id = j.id) "
            "AND NOT EXISTS (SELECT 1 FROM transmissions t WHERE t.job_id = j.id "
            f"AND t.state NOT IN ({marks})) ORDER BY j.received_at DESC",
            [s.value for s in FINAL_TX_STATES],
        )
        return [str(r["id"]) for r in rows]

    def unfiled_jobs(self, limit: int) -> list[JobRow]:
        """Jobs not filed yet (under way, or finished and waiting to be filed), newest first."""
        return self.jobs("archived_at IS NULL", limit=limit)

    def filed_jobs(self, limit: int) -> list[JobRow]:
        """Jobs filed in sent/, failed/ or hold/, newest first."""
        return self.jobs("archived_at IS NOT NULL", limit=limit)

    def delay_ran_out(self, now: float, default_after: float | None, limit: int) -> list[JobRow]:
        """Unfinished, unfiled jobs whose delay ran out by `now` and that were not noted
        for it yet, oldest first: a job's delay is its own `delayed_after`, else
        `default_after` (None: jobs without their own are left out). The delay is read
        from the stored options by SQLite, so jobs still within it are never built here."""
        rows = self.query(
            "SELECT * FROM jobs WHERE archived_at IS NULL AND finished_at IS NULL "
            "AND delay_noted_at IS NULL AND received_at + "
            "COALESCE(json_extract(options, '$.delayed_after'), ?) <= ? "
            "ORDER BY received_at LIMIT ?",
            (default_after, now, limit),
        )
        return [job_row(r) for r in rows]

    def note_delay(self, job_ids: Sequence[str], when: float) -> None:
        """The jobs' ran-out delays were seen to (see delay_ran_out)."""
        with self.transaction() as db:
            for chunk, marks in in_chunks(job_ids):
                db.execute(
                    f"UPDATE jobs SET delay_noted_at = ? WHERE id IN ({marks})",  # noqa: S608
                    (when, *chunk),
                )

    def job_filed_as(self, path: str) -> JobRow | None:
        """The job whose document was filed at `path` (absolute, resolved)."""
        rows = self.jobs("archived_path = ?", (encode_path(path),), limit=1)
        return rows[0] if rows else None

    def failed_job_from(self, path: str) -> JobRow | None:
        """The newest job that took the spool file `path` and was filed as failed."""
        rows = self.jobs(
            "path = ? AND state = ? AND archived_at IS NOT NULL",
            (encode_path(path), JobState.FAILED.value),
            limit=1,
        )
        return rows[0] if rows else None

    def unfiled_job_at(self, path: str) -> JobRow | None:
        """The unfiled job that took the spool file `path` as its document."""
        rows = self.jobs("archived_at IS NULL AND path = ?", (encode_path(path),), limit=1)
        return rows[0] if rows else None

    def has_unfiled_job_from(self, folder: Path) -> bool:
        return bool(self.jobs("archived_at IS NULL AND folder = ?", (str(folder),), limit=1))

    def set_job_state(
        self,
        job_id: str,
        state: JobState,
        *,
        finished_at: float | None = None,
        error: str | None = None,
        outbox: Sequence[NewDelivery] = (),
    ) -> None:
        with self.transaction() as db:
            insert_outbox(db, outbox)
            db.execute(
                "UPDATE jobs SET state = ?, finished_at = COALESCE(?, finished_at), "
                "error = COALESCE(?, error) WHERE id = ?",
                (state.value, finished_at, error, job_id),
            )

    def set_archive_plan(self, job_id: str, plan: dict[str, str]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE jobs SET archive_plan = ? WHERE id = ?", (json.dumps(plan), job_id))

    def mark_archived(self, job_id: str, archived_path: str, when: float) -> None:
        """Commit a job as filed; its report PDF and checksum are queued in the same
        transaction (drawn later, so filing never waits for them)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET archived_at = ?, archived_path = ? WHERE id = ?",
                (when, encode_path(archived_path), job_id),
            )
            db.execute(
                "INSERT OR IGNORE INTO filed_records(job_id, state, queued_at) "
                "VALUES (?, 'pending', ?)",
                (job_id, when),
            )
            db.execute("DELETE FROM kv WHERE key = ?", (moved_aside_key(job_id),))
            state = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            audit_outbox.record(
                db, "filed", job=job_id, result=state[0] if state else None, path=archived_path
            )

    def audit(self, event: str, **data: Any) -> None:
        """Commit an audit event that records no other journal state (a configuration
        loaded, a provider paused, a document put back for retry)."""
        with self.transaction() as db:
            audit_outbox.record(db, event, **data)

    # -- transmissions -----------------------------------------------------------------

    def job_and_transmissions(self, job_id: str) -> tuple[JobRow | None, list[TxRow]]:
        jobs, txs = self.query_many(
            (_JOB, (job_id,)),
            (_JOB_TXS, (job_id,)),
        )
        return (job_row(jobs[0]) if jobs else None), [tx_row(r) for r in txs]

    def transmissions(self, job_id: str) -> list[TxRow]:
        rows = self.query(_JOB_TXS, (job_id,))
        return [tx_row(r) for r in rows]

    def for_upload(
        self, job_id: str, idx: int, provider: str, dft_fresh_after: float
    ) -> tuple[TxRow, JobRow, bool | None] | None:
        """What an upload acts on: its transmission, its job, and the recipient's cached
        Direct File Transfer answer (None when none is fresh), read together. Not waited
        for: the upload's own SUBMITTING commit is durable before the document is sent
        (a DFT check before it only asks the provider about the number)."""
        txs, jobs, dft = self.query_many(
            (_TX, (job_id, idx)),
            (_JOB, (job_id,)),
            (
                "SELECT d.supported FROM dft_cache d JOIN transmissions t ON t.number = d.number "
                "WHERE t.job_id = ? AND t.idx = ? AND d.provider = ? AND d.checked_at >= ?",
                (job_id, idx, provider, dft_fresh_after),
            ),
            durable=False,
        )
        if not txs or not jobs:
            return None
        return tx_row(txs[0]), job_row(jobs[0]), bool(dft[0]["supported"]) if dft else None

    def transmission(self, job_id: str, idx: int) -> TxRow | None:
        rows = self.query(_TX, (job_id, idx))
        return tx_row(rows[0]) if rows else None

    def due_transmissions(
        self,
        states: Sequence[TxState],
        now: float,
        limit: int = 200,
        provider: str | None = None,
    ) -> list[DueTx]:
        """Transmissions in `states` whose time has come, oldest first, with their provider
        (only `provider`'s when given). Not waited for: each is re-read by the thread that
        works on it, which commits before it acts."""
        marks = ",".join("?" for _ in states)
        only = "AND j.provider = ? " if provider is not None else ""
        sql = (
            "SELECT t.job_id, t.idx, j.provider FROM transmissions t JOIN jobs j "  # noqa: S608
            f"ON j.id = t.job_id WHERE t.state IN ({marks}) AND t.next_attempt_at <= ? {only}"
            "ORDER BY t.next_attempt_at, t.job_id, t.idx LIMIT ?"
        )
        params = (*[s.value for s in states], now, *([provider] if provider else []), limit)
        return [DueTx(*r) for r in self.query(sql, params, durable=False)]

    def next_due_time(self, states: Sequence[TxState]) -> float | None:
        marks = ",".join("?" for _ in states)
        rows = self.query(
            f"SELECT MIN(next_attempt_at) AS t FROM transmissions WHERE state IN ({marks})",  # noqa: S608
            [s.value for s in states],
            durable=False,  # it only times the dispatcher's next look
        )
        value = rows[0]["t"] if rows else None
        return float(value) if value is not None else None

    def _update_tx(
        self,
        job_id: str,
        idx: int,
        *,
        outbox: Sequence[NewDelivery] = (),
        expect: Collection[TxState] | None = None,
        first: bool = False,
        **fields: Any,
    ) -> bool:
        """Commit new values for one transmission (synchronous=FULL: durable on return),
        with the notices the change causes. A change of state must be a move the state
        machine allows (`core.transitions.LEGAL_MOVES`), else IllegalTransition. With
        `expect`, nothing is written unless the transmission is in one of those states
        (False), so a decision taken on a stale read cannot overwrite a newer one.
        `first`: see transaction."""
        if not fields:
            return True
        values = [v.value if isinstance(v, TxState | Method) else v for v in fields.values()]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction(first=first) as db:
            before = None
            if "state" in fields or expect is not None:
                before = db.execute(
                    "SELECT state, number, remote_id, method FROM transmissions "
                    "WHERE job_id = ? AND idx = ?",
                    (job_id, idx),
                ).fetchone()
                if before is None:
                    return False
                current = TxState(before["state"])
                if expect is not None and current not in expect:
                    return False
                if "state" in fields and not is_legal(current, TxState(fields["state"])):
                    raise IllegalTransition(job_id, idx, current, TxState(fields["state"]))
            insert_outbox(db, outbox)
            db.execute(
                f"UPDATE transmissions SET {assignments} WHERE job_id = ? AND idx = ?",  # noqa: S608
                (*values, job_id, idx),
            )
            if before is not None and "state" in fields:
                _audit_transition(db, job_id, before, dict(zip(fields, values, strict=True)))
        return True

    def apply(
        self,
        job_id: str,
        idx: int,
        update: TxUpdate,
        *,
        expect: Collection[TxState] | None = None,
        outbox: Sequence[NewDelivery] = (),
        first: bool = False,
    ) -> bool:
        """Write a typed step of the state machine (see _update_tx for the checks)."""
        return self._update_tx(
            job_id, idx, outbox=outbox, expect=expect, first=first, **update.columns()
        )

    def cancel_unsent(self, job_id: str, now: float, reason: str) -> str | None:
        """Fail every transmission of a job that has not left for the provider, all in one
        transaction, so an engine about to upload one (its move to SUBMITTING is a
        compare-and-set on the state) either finds it failed or has already taken it, in
        which case nothing is cancelled. None on success, else why it cannot be cancelled."""
        cancellable = (TxState.READY.value, TxState.WAITING.value)
        with self.transaction() as db:
            rows = db.execute(
                "SELECT idx, state, number, remote_id, method FROM transmissions "
                "WHERE job_id = ? ORDER BY idx",
                (job_id,),
            ).fetchall()
            if not rows:
                return "it has no transmission left to cancel"
            for row in rows:
                if row["state"] not in cancellable or row["remote_id"] is not None:
                    return (
                        f"its upload to {row['number']} may already have reached the provider "
                        f"(state {row['state']}); cancelling now could not stop the fax"
                    )
            db.execute(
                "UPDATE transmissions SET state = ?, error = ?, updated_at = ? WHERE job_id = ?",
                (TxState.FAILED.value, reason, now, job_id),
            )
            for row in rows:
                _audit_transition(db, job_id, row, {"state": TxState.FAILED.value, "error": reason})
        return None

    def remote_ids(self, provider: str) -> RemoteIds:
        """The provider's ids faxd recorded for its own uploads, as a container asked one
        id at a time (`remote_id in ids`): a year holds a million of them."""
        return RemoteIds(self, provider)

    def has_remote_id(self, provider: str, remote_id: str) -> bool:
        rows = self.query(
            "SELECT 1 FROM remote_claims WHERE provider = ? AND remote_id = ? "
            "UNION ALL SELECT 1 FROM transmissions t JOIN jobs j ON j.id = t.job_id "
            "WHERE t.remote_id = ? AND j.provider = ? LIMIT 1",
            (provider, remote_id, remote_id, provider),
        )
        return bool(rows)

    def claim_remote_id(
        self,
        provider: str,
        job_id: str,
        idx: int,
        remote_id: str,
        *,
        take_over: bool = False,
        **fields: Any,
    ) -> str | None:
        """Record `remote_id` (and `fields`) for one transmission, unless another holds it.

        Check and write are one transaction, so of two lookups that found the same upload
        only one gets it. Returns None when the id is now this transmission's, else the key
        (`job-idx`) of the one holding it. `take_over` is for the provider's own answer to
        an upload, which outranks a lookup's guess: the holder is sent back to asking the
        provider, unless its result is already final."""
        values = [v.value if isinstance(v, TxState | Method) else v for v in fields.values()]
        assignments = "".join(f", {name} = ?" for name in fields)
        # Not waited for: an upload's SUBMITTING commit was durable before it was sent,
        # and a claim lost to a power cut is found again by an outcome lookup.
        with self.transaction(durable=False) as db:
            held = db.execute(
                "SELECT job_id, idx FROM remote_claims WHERE provider = ? AND remote_id = ? "
                # an id recorded without a claim (by an older faxd) holds it all the same
                "UNION ALL SELECT t.job_id, t.idx FROM transmissions t JOIN jobs j "
                "ON j.id = t.job_id WHERE j.provider = ? AND t.remote_id = ? LIMIT 1",
                (provider, remote_id, provider, remote_id),
            ).fetchone()
            holder = None if held is None else (str(held["job_id"]), int(held["idx"]))
            if holder is not None and holder != (job_id, idx):
                if not take_over:
                    return f"{holder[0]}-{holder[1]}"
                db.execute(
                    "UPDATE transmissions SET state = ?, remote_id = NULL, lookups = 0, "
                    "next_attempt_at = 0 WHERE job_id = ? AND idx = ? AND remote_id = ? "
                    "AND state NOT IN (?, ?)",
                    (
                        TxState.OUTCOME_UNKNOWN.value,
                        *holder,
                        remote_id,
                        *(s.value for s in FINAL_TX_STATES),
                    ),
                )
            db.execute(
                "INSERT INTO remote_claims(provider, remote_id, job_id, idx) VALUES (?,?,?,?) "
                "ON CONFLICT(provider, remote_id) DO UPDATE SET "
                "job_id = excluded.job_id, idx = excluded.idx",
                (provider, remote_id, job_id, idx),
            )
            before = db.execute(
                "SELECT state, number, remote_id, method FROM transmissions "
                "WHERE job_id = ? AND idx = ?",
                (job_id, idx),
            ).fetchone()
            db.execute(
                f"UPDATE transmissions SET remote_id = ?{assignments} "  # noqa: S608
                "WHERE job_id = ? AND idx = ?",
                (remote_id, *values, job_id, idx),
            )
            if before is not None and "state" in fields:
                change = dict(zip(fields, values, strict=True)) | {"remote_id": remote_id}
                _audit_transition(db, job_id, before, change)
            if holder is not None and holder != (job_id, idx):
                return f"{holder[0]}-{holder[1]}"
            return None

    def remote_claims(self, provider: str) -> dict[str, str]:
        """Every provider id faxd has credited, with the transmission (`job-idx`) it went to."""
        rows = self.query(
            "SELECT remote_id, job_id, idx FROM remote_claims WHERE provider = ?", (provider,)
        )
        return {str(r["remote_id"]): f"{r['job_id']}-{r['idx']}" for r in rows}

    def reset_interrupted(self, now: float) -> int:
        """After a crash: a transmission caught in SUBMITTING may have reached the provider.
        Its lookups start from none, as after an answer lost in flight: the lookups of an
        earlier attempt were about an upload that did not happen."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE transmissions SET state = ?, lookups = 0, next_attempt_at = ?, "
                "updated_at = ? WHERE state = ?",
                (TxState.OUTCOME_UNKNOWN.value, now, now, TxState.SUBMITTING.value),
            )
            return cur.rowcount

    def wake_waiting(self, provider: str, now: float) -> int:
        """Make a provider's backed-off transmissions due now (after its pause is lifted)."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE transmissions SET next_attempt_at = ? WHERE state = ? "
                "AND next_attempt_at > ? AND job_id IN (SELECT id FROM jobs WHERE provider = ?)",
                (now, TxState.WAITING.value, now, provider),
            )
            return cur.rowcount

    def wake_queries(self, keys: Collection[tuple[str, int]], now: float) -> int:
        """Make these transmissions' status queries or lookups due now, those still
        waiting for one (a reload lifted the credentials pause they waited out)."""
        if not keys:
            return 0
        woken = 0
        with self.transaction() as db:
            for job_id, idx in keys:
                cur = db.execute(
                    "UPDATE transmissions SET next_attempt_at = ? WHERE job_id = ? AND idx = ? "
                    "AND state IN (?, ?) AND next_attempt_at > ?",
                    (
                        now,
                        job_id,
                        idx,
                        TxState.SUBMITTED.value,
                        TxState.OUTCOME_UNKNOWN.value,
                        now,
                    ),
                )
                woken += cur.rowcount
        return woken

    def counts(self) -> dict[str, int]:
        """Transmissions per unfinished state. Finished ones are not counted: after a year
        there are millions, and nothing asks how many."""
        active = [s.value for s in TxState if s not in FINAL_TX_STATES]
        marks = ",".join("?" for _ in active)
        rows = self.query(
            f"SELECT state, COUNT(*) AS n FROM transmissions WHERE state IN ({marks}) "  # noqa: S608
            "GROUP BY state",
            active,
        )
        return {str(r["state"]): int(r["n"]) for r in rows}

    def queue_counts(self) -> QueueCounts:
        counts = self.counts()
        return QueueCounts(
            queued=counts.get(TxState.READY, 0) + counts.get(TxState.WAITING, 0),
            in_flight=sum(counts.get(s, 0) for s in _IN_FLIGHT),
        )

    def failed_since(self, since: float) -> int:
        """Jobs that failed at or after `since` (epoch seconds)."""
        rows = self.query(
            "SELECT COUNT(*) AS n FROM jobs WHERE state = 'failed' AND finished_at >= ?", (since,)
        )
        return int(rows[0]["n"])

    # -- numbers faxd knows (misdial guard) --------------------------------------------

    def known_among(self, numbers: Collection[str]) -> set[str]:
        """Which of `numbers` faxd has delivered to, or an admin released a document to.

        Both lookups are index probes (tx_number_state, the known_numbers key), so the
        cost follows len(numbers), not the size of the journal."""
        wanted = list(dict.fromkeys(numbers))
        found: set[str] = set()
        has_known = self.has_table("known_numbers")
        for chunk, marks in in_chunks(wanted):
            sql = (
                "SELECT number FROM transmissions "  # noqa: S608
                f"WHERE state = 'delivered' AND number IN ({marks})"
            )
            params = list(chunk)
            if has_known:
                sql += f" UNION SELECT number FROM known_numbers WHERE number IN ({marks})"  # noqa: S608
                params += chunk
            # Not durable: the decision it feeds is acted on only through the job's own
            # durable commit, whose fsync covers every commit this read saw.
            found.update(str(row["number"]) for row in self.query(sql, params, durable=False))
        return found

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

    def held_jobs(self, limit: int = 1000) -> list[JobRow]:
        """Held jobs not released (whether their files are still in hold/ is not checked)."""
        where = "state = ? AND archived_at IS NOT NULL"
        if self.has_table("releases"):
            where += " AND id NOT IN (SELECT job_id FROM releases)"
        return self.jobs(where, (JobState.HELD.value,), limit=limit)

    # -- DFT answers -------------------------------------------------------------------

    def store_dft(self, provider: str, number: str, supported: bool, when: float) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO dft_cache(provider, number, supported, checked_at) "
                "VALUES (?,?,?,?) ON CONFLICT(provider, number) DO UPDATE SET "
                "supported = excluded.supported, checked_at = excluded.checked_at",
                (provider, number, int(supported), when),
            )


_TX_EVENTS = {
    TxState.SUBMITTED.value: "accepted",
    TxState.DELIVERED.value: "delivered",
    TxState.FAILED.value: "failed",
}


def _audit_transition(
    db: sqlite3.Connection, job_id: str, before: sqlite3.Row, new: dict[str, Any]
) -> None:
    """An audit event for a transmission that just reached accepted, delivered or failed."""
    state = new["state"]
    event = _TX_EVENTS.get(state)
    if event is None or before["state"] == state:
        return
    audit_outbox.record(
        db,
        event,
        job=job_id,
        recipient=before["number"],
        id=new.get("remote_id", before["remote_id"]),
        method=new.get("method", before["method"]),
        status=new.get("status"),
        error=new.get("error"),
    )


class RemoteIds(Container[str]):
    """Journal.remote_ids: membership only, each test one indexed look-up."""

    def __init__(self, journal: Journal, provider: str) -> None:
        self._journal = journal
        self._provider = provider

    def __contains__(self, remote_id: object) -> bool:
        if not isinstance(remote_id, str):
            return False
        return self._journal.has_remote_id(self._provider, remote_id)
