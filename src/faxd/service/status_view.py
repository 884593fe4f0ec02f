"""`faxd status`: what is queued, in flight, held and recently finished, read from the
journal (read-only) in this process while the daemon runs in its own. Like the other
one-shot commands it returns an exit code and prints what an admin needs; errors are
raised as FaxdError for `cli.main` to word."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from faxd.core.inbox_status import InboxStatus
from faxd.core.printable import table
from faxd.host import fsops
from faxd.service.channel_commands import delivery_lines
from faxd.service.records_commands import readonly_journal
from faxd.service.release import held_documents
from faxd.settings import Settings
from faxd.store.journal_rows import JobRow, TxRow

RECENT = 15
JOURNAL_ROOM = 1024 * 1024  # bytes: with less free, a journal write can fail any moment


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def status(settings: Settings) -> int:
    journal = readonly_journal(settings)
    if journal is None:
        print(f"No journal in {settings.state_dir} yet: faxd has not run with this configuration.")
        return 0
    try:
        active = journal.unfiled_jobs(limit=500)
        finished = journal.filed_jobs(limit=RECENT)
        counts = journal.queue_counts()
        pauses = journal.pauses()
        inbox = journal.inbox_statuses()
        stall = journal.intake_stall()
        active_lines = [(j, journal.transmissions(j.id)) for j in active]
        held = held_documents(journal)
        deliveries = delivery_lines(journal)
        finished_lines = [(j, journal.transmissions(j.id)) for j in finished]
    finally:
        journal.close()
    print(f"{counts.queued} queued, {counts.in_flight} in flight, {len(held)} held")
    full = fsops.no_room(settings.state_dir, JOURNAL_ROOM)
    if full is not None:
        # The daemon cannot record this in the journal it cannot write.
        print(
            f"the journal's folder {settings.state_dir} {full}: faxd can record nothing, so it"
            " takes no document in and sends nothing until it can (documents wait where"
            " they are, and are not counted above)"
        )
    if stall is not None:
        print(f"not taking documents in {stall} (see Troubleshooting in the README)")
    for line in deliveries:
        print(line)
    now = time.time()
    for pause in pauses:
        if pause.until > now:
            print(f"provider {pause.provider} paused ({pause.reason}) until {_when(pause.until)}")
    for state in inbox:
        print(_inbox_line(state))
    header = ("JOB", "DOCUMENT", "STATE", "RECIPIENTS", "SINCE")
    if active:
        print("\nIn progress:")
        print(table([header, *[_job_line(j, txs) for j, txs in active_lines]]))
    if finished:
        print("\nRecently finished:")
        print(table([header, *[_job_line(j, txs) for j, txs in finished_lines]]))
    if held:
        print("\nHeld (faxd release PATH|ID sends one as addressed):")
        rows = [("JOB", "HELD AS", "RECIPIENTS")]
        for job in held:
            numbers = job.options.held_numbers()
            rows.append((job.id, job.archived_path or "-", ", ".join(numbers)))
        print(table(rows))
    if not active and not finished:
        print("Nothing sent yet.")
    return 0


def _inbox_line(state: InboxStatus) -> str:
    last = _poll_time(state.last_poll)
    line = f"inbox {state.inbox}: last poll {last}, {state.received_today} received today"
    if state.last_error:
        line += f"; last error: {state.last_error}"
    if state.incomplete_seconds:
        line += f"; {state.incomplete_seconds} second(s) listed incompletely (see the log)"
    return line


def _poll_time(stamp: str | None) -> str:
    """The poller's ISO time in UTC, shown in local time like every other time here."""
    if not stamp:
        return "never"
    try:
        return _when(datetime.fromisoformat(stamp).timestamp())
    except ValueError:
        return stamp


def _job_line(job: JobRow, txs: Sequence[TxRow]) -> tuple[str, str, str, str, str]:
    recipients = ", ".join(f"{t.number} {t.status or t.state.value}" for t in txs) or "-"
    return (job.id, job.rel_path, job.state.value, recipients, _when(job.received_at))
