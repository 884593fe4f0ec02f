"""What the daemon finishes of an earlier run at start-up (reconciliation), and filing
that failed, tried again from the main loop."""

from __future__ import annotations

import structlog

from faxd.service.daemon_part import DaemonPart

log = structlog.get_logger("faxd.service.daemon")

FILING_RETRY = 60.0  # how often every finished but unfiled job is looked for
FILING_QUICK_RETRY = 5.0  # how often filing that failed (unwritable sent/ …) is tried again


class DaemonFiling(DaemonPart):
    def _reconcile(self) -> None:
        """Finish what a crash interrupted before anything new starts."""
        if self._journal.intake_stall() is not None:
            self._journal.set_intake_stall(None)  # said by a run that has ended
        self._engine.look_up_interrupted()
        # A filing error (an unwritable sent/ subfolder, a spool folder that is away) never
        # stops the start: the job stays unfiled, is logged, and is tried again later.
        for job in self._journal.unarchived_final_jobs():
            if self._archiver.try_archive(job):
                self._intake.release(job.id)
        self._unfiled = {job.id for job in self._journal.unarchived_final_jobs()}
        swept = self._archiver.sweep_work()
        if swept:
            log.info("removed work folders no job owns (left by a stop)", count=swept)
        swept = self._archiver.sweep_outbox()
        if swept:
            log.info(
                "removed faxd send's outbox folders no job needs (left by a stop)", count=swept
            )
        self._filing_checked_at = self._clock.monotonic()
        # A kill between a transmission's final status and its job's leaves a job whose
        # every transmission is final but which nothing would ever look at again.
        for job_id in self._journal.unfiled_ids_all_final():
            self._engine.finish_if_done(job_id)

    def _retry_filing(self) -> None:
        """File finished jobs whose filing failed. Only jobs already unfiled at the previous
        pass, FILING_RETRY seconds ago: a job that just finished is being filed by its own
        thread right now."""
        now = self._clock.monotonic()
        if now - self._filing_tried_at < FILING_QUICK_RETRY:
            return
        self._filing_tried_at = now
        # Known failures often (a share that is back should not wait a minute) …
        due = set(self._archiver.failing())
        if now - self._filing_checked_at >= FILING_RETRY:
            # … and every minute whatever else is finished but not filed.
            self._filing_checked_at = now
            unfiled = {job.id for job in self._journal.unarchived_final_jobs()}
            due |= unfiled & self._unfiled
            self._unfiled = unfiled
        for job_id in sorted(due):
            try:
                self._engine.finish_if_done(job_id)
            except Exception:  # a journal hiccup must not stop the main loop
                log.exception("could not retry filing", job=job_id)

    def _archived(self, job_id: str) -> None:
        self._intake.release(job_id)
        self._records.wake()  # the report PDF is drawn in the records thread
