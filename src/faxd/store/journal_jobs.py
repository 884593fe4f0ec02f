"""Jobs written to the journal: their creation, where the jobs that takers create at once
share one commit (faxd.store.shared_commits), and their rows' later states up to filed
(mixed into faxd.store.journal.Journal)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from faxd.core.job_payload import NewJob, files_to_json
from faxd.model import JobState, TxState
from faxd.store import audit_outbox
from faxd.store.journal_failures import JournalWriteError, is_write_failure
from faxd.store.journal_notes import moved_aside_key
from faxd.store.journal_part import JournalPart
from faxd.store.journal_retries import delivered_before
from faxd.store.journal_rows import encode_path
from faxd.store.outbox import NewDelivery
from faxd.store.outbox import insert as insert_outbox
from faxd.store.rows import in_chunks
from faxd.store.shared_commits import Entry, SharedCommits
from faxd.store.wal_sync import WalSync


@dataclass(frozen=True)
class Creation:
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


class JournalJobs(JournalPart):
    """Jobs created and their rows written (mixed into faxd.store.journal.Journal)."""

    if TYPE_CHECKING:  # Journal's own, see faxd.store.journal.Journal
        _durable: WalSync
        _creations: SharedCommits[Creation]

        def _write_failed(self, exc: sqlite3.OperationalError | OSError) -> NoReturn: ...

        def _written(self) -> None: ...

    # -- creation ----------------------------------------------------------------------

    def create_job(self, job: NewJob, outbox: Sequence[NewDelivery] = ()) -> None:
        """`outbox`: notices this job's creation causes (a refusal), committed with it.

        Jobs that several takers create at once share one commit (faxd.store.shared_commits),
        each under its own savepoint, so one job's failure is its own; each taker goes on
        only once the fsync covering its job is done."""
        mine = self._creations.run(Creation(job, tuple(outbox)))
        if mine.error is not None:
            raise mine.error
        failure = self._durable.wait(mine.seq)
        if failure is not None:
            self._write_failed(failure)
        self._written()

    def _create_batch(self, batch: list[Entry[Creation]]) -> None:
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
                        if isinstance(exc, sqlite3.OperationalError) and is_write_failure(exc):
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

    # -- the job's row later on --------------------------------------------------------

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

    def note_delay(self, job_ids: Sequence[str], when: float) -> None:
        """The jobs' ran-out delays were seen to (see delay_ran_out)."""
        with self.transaction() as db:
            for chunk, marks in in_chunks(job_ids):
                db.execute(
                    f"UPDATE jobs SET delay_noted_at = ? WHERE id IN ({marks})",  # noqa: S608
                    (when, *chunk),
                )
