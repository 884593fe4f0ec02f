"""`faxd cancel`: a job that has not left yet stopped and filed in failed/. Like the
other one-shot commands it returns an exit code and prints what an admin needs; errors
are raised as FaxdError for `cli.main` to word."""

from __future__ import annotations

from faxd.clock import SystemClock
from faxd.core.printable import shown
from faxd.errors import FaxdError, UsageError
from faxd.model import TxState
from faxd.outbound.archive import Archiver
from faxd.outbound.engine import Engine
from faxd.providers.registry import build_senders
from faxd.service.daemon import open_journal
from faxd.settings import Settings

CANCELLED = "cancelled with faxd cancel"


def cancel(settings: Settings, job_id: str) -> int:
    """Stop a job that has not left yet: its transmissions fail as cancelled and it is
    filed in failed/ with a report. Refused once an upload may have reached the provider,
    because nothing faxd does then could stop the fax; a transmission that ended already
    (delivered, or refused by the provider) is left as it is."""
    journal = open_journal(settings)
    try:
        job = journal.job(job_id)
        if job is None:
            raise UsageError(f"no job '{shown(job_id)}'.", "Job ids are listed by 'faxd status'.")
        if job.archived_at is not None:
            raise UsageError(f"job {job_id} is finished already: {job.archived_path}.")
        clock = SystemClock()
        refused = journal.cancel_unsent(job_id, clock.time(), CANCELLED)
        if refused is not None:
            raise FaxdError(
                f"job {job_id} cannot be cancelled: {refused}.",
                "Watch it with 'faxd status'; its report tells the outcome.",
            )
        senders = build_senders(settings)
        archiver = Archiver.of(settings, journal, clock)
        Engine(settings, journal, senders, archiver, clock).finish_if_done(job_id)
        filed = journal.job(job_id)
        txs = journal.transmissions(job_id)
    finally:
        journal.close()
    where = filed.archived_path if filed is not None and filed.archived_path else "failed/"
    print(f"job {job_id} cancelled; filed in {where}")
    for tx in txs:
        # Ended before the cancel, so it changed nothing for them: say what became of them.
        if tx.state is TxState.DELIVERED:
            print(f"  {tx.number}: delivered already, before the cancel")
        elif tx.state is TxState.FAILED and tx.error != CANCELLED:
            said = shown(tx.error or "no reason recorded")
            print(f"  {tx.number}: had failed already, before the cancel: {said}")
    return 0
