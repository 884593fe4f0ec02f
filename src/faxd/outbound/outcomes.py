"""What the provider said about a transmission, written down: its id credited to it, its
final status or its failure recorded, and a job whose transmissions are all final given
its result, filed (faxd.outbound.archive) and cleaned up at the provider.

Uploads (faxd.outbound.engine) and status queries (faxd.outbound.status_queries) both
end here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from faxd.clock import Clock
from faxd.core.failure_advice import failure_text
from faxd.core.retry import STATUS_POLL_FIRST, status_poll_delay
from faxd.core.transitions import TxUpdate
from faxd.errors import FaxdError
from faxd.model import Accepted, JobState, OutgoingFile, RemoteStatus, Submission, TxState
from faxd.notices.plan import job_notices
from faxd.outbound.archive import Archiver
from faxd.providers.base import Sender
from faxd.providers.registry import label as provider_label
from faxd.settings import Settings
from faxd.store.journal import Journal
from faxd.store.journal_rows import JobRow, TxRow, all_final

log = structlog.get_logger("faxd.outbound.engine")


def files_of(job: JobRow) -> tuple[OutgoingFile, ...]:
    """The job's files as a provider uploads them (its copies in the work folder)."""
    return tuple(
        OutgoingFile(path=Path(f.path), name=f.name, mime=f.mime, size=f.size) for f in job.files
    )


def submission_for(
    job: JobRow, tx: TxRow, files: tuple[OutgoingFile, ...], dft: bool
) -> Submission:
    return Submission(
        key=tx.key,
        job_id=job.id,
        sender=job.sender or "",
        recipient=tx.number,
        files=files,
        dft=dft,
        reference=job.reference,
        retarus=job.options.retarus,
    )


def work_dir(settings: Settings, job: JobRow) -> Path:
    return settings.work_root / job.id


class Outcomes:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        senders: Mapping[str, Sender],
        archiver: Archiver,
        clock: Clock,
        on_archived: Callable[[str], None],
    ) -> None:
        """`senders`: the engine's own mapping, which a reload updates in place."""
        self.settings = settings
        self._journal = journal
        self._senders = senders
        self._archiver = archiver
        self._clock = clock
        self._on_archived = on_archived
        self._finish_lock = threading.Lock()
        # Transmissions the log warned about as retried for hours: forgotten when filed.
        self.delay_warned: set[str] = set()

    def poll_delay(self, provider: str, polls_done: int) -> float:
        settings = self.settings.providers.get(provider)
        first = settings.status_poll if settings is not None else STATUS_POLL_FIRST
        return status_poll_delay(polls_done, first)

    def accepted(
        self, tx: TxRow, accepted: Accepted, provider: str, *, answered: bool = False
    ) -> bool:
        """Credit the provider's id to this transmission; False when another one holds it.

        `answered`: the id came in the provider's answer to this upload, which outranks
        an id an outcome lookup credited to another transmission."""
        now = self._clock.time()
        holder = self._journal.claim_remote_id(
            provider,
            tx.job_id,
            tx.idx,
            accepted.remote_id,
            take_over=answered,
            state=TxState.SUBMITTED,
            method=accepted.method,
            submitted_at=now,
            polls=0,
            next_attempt_at=now + self.poll_delay(provider, 0),
            error=None,
            updated_at=now,
        )
        if holder is None:
            return True
        if answered:
            log.error(
                "the provider's id had been credited to another transmission by a lookup;"
                " that one asks the provider again",
                job=tx.job_id,
                remote_id=accepted.remote_id,
                other=holder,
            )
            return True
        log.info(
            "the upload found belongs to another transmission; looking again",
            job=tx.job_id,
            remote_id=accepted.remote_id,
            other=holder,
        )
        return False

    def step(self, job: JobRow, tx: TxRow, update: TxUpdate, now: float, *, requeued: bool) -> None:
        """Write a step that is not final; `requeued` (it is to be sent again) owes the
        job's `requeued` notice, committed with it."""
        outbox = (
            job_notices(
                job.id,
                job.options.notice,
                "requeued",
                now,
                occasion=f"{tx.idx}.{update.attempts}",
            )
            if requeued
            else []
        )
        self._journal.apply(tx.job_id, tx.idx, update, outbox=outbox)

    def fail(self, job: JobRow, tx: TxRow, error: str, *, status: str | None = None) -> None:
        """`status`: the provider's last word on it, kept in the report (None: unchanged)."""
        now = self._clock.time()
        log.warning(
            "transmission failed",
            job=job.id,
            document=job.rel_path,
            recipient=tx.number,
            error=error,
            state="failed",
        )
        self._journal.apply(
            tx.job_id,
            tx.idx,
            TxUpdate(state=TxState.FAILED, status=status, error=error, updated_at=now),
        )
        self.finish_if_done(job.id)

    def record_final(self, job: JobRow, tx: TxRow, status: RemoteStatus) -> None:
        now = self._clock.time()
        state = TxState.DELIVERED if status.delivered else TxState.FAILED
        error = (
            None
            if status.delivered
            else failure_text(
                status.status,
                status.reason,
                provider_label(self.settings.providers, job.provider),
                status.remote_id or tx.remote_id,
                # `faxd retry` refuses what `faxd send` handed in: it names its own way.
                again="faxd send"
                if Path(job.folder).is_relative_to(self.settings.outbox_root)
                else "faxd retry",
            )
        )
        self._journal.apply(
            tx.job_id,
            tx.idx,
            TxUpdate(
                state=state,
                status=status.status,
                method=status.method or tx.method,
                error=error,
                updated_at=now,
            ),
        )
        log.info(
            "final status",
            job=job.id,
            document=job.rel_path,
            recipient=tx.number,
            remote_id=tx.remote_id,
            status=status.status,
            state=state.value,
        )
        self.finish_if_done(job.id)

    def finish_if_done(self, job_id: str) -> None:
        with self._finish_lock:
            job, txs = self._journal.job_and_transmissions(job_id)
            if job is None or job.archived_at is not None:
                return
            if not all_final(txs):
                return
            self.delay_warned.difference_update(tx.key for tx in txs)  # a daemon runs years
            # A held job has its result, and no transmission (none is final, so all are):
            # here only to be filed again, after its filing into hold/ failed.
            if job.state not in (JobState.DELIVERED, JobState.FAILED, JobState.HELD):
                result = (
                    JobState.DELIVERED
                    if txs and all(t.state == TxState.DELIVERED for t in txs)
                    else JobState.FAILED
                )
                now = self._clock.time()
                # Notices are owed from the moment the result is: committed with it.
                notices = job_notices(job_id, job.options.notice, result.value, now)
                self._journal.set_job_state(job_id, result, finished_at=now, outbox=notices)
            # Filing reads the job's row as it is now.
            if not self._archiver.try_archive(job):
                return  # logged; the daemon tries filing it again later
        self._on_archived(job_id)
        sender = self._senders.get(job.provider)
        if sender is not None:
            cleanup(sender, [tx.remote_id for tx in txs if tx.remote_id])


def cleanup(sender: Sender, remote_ids: list[str]) -> None:
    for remote_id in remote_ids:
        try:
            sender.cleanup(remote_id)
        except FaxdError as exc:
            # The report sweep finds the report again and retries.
            log.warning("could not clean up at the provider", remote_id=remote_id, error=str(exc))
