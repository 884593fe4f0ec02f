"""The records' one-shot commands: `faxd journal`, `faxd purge`, `faxd audit verify` and
`faxd history`. Each returns an exit code; errors are raised for `cli.main` to word."""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from pathlib import Path

from faxd.clock import SystemClock
from faxd.core.addressing import parse_number
from faxd.core.printable import shown, table
from faxd.crash_points import hang_point
from faxd.errors import AddressError, AlreadyRunningError, FaxdError, UsageError
from faxd.host.fsops import NotRegularFileError
from faxd.host.lock import InstanceLock
from faxd.outbound.archive import REPORT_KEY
from faxd.records.activity import day_paths
from faxd.records.audit_log import AuditLog
from faxd.service.daemon import JOURNAL_NAME, open_journal
from faxd.service.records_activity import local_day_start
from faxd.service.records_files import records_dir, said_of
from faxd.service.records_keeper import RecordsKeeper
from faxd.settings import Settings
from faxd.store.journal import Journal, open_journal_file
from faxd.store.records_ledger import RecordsLedger


def dispatch(settings: Settings, args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "audit":
        return audit_verify(settings)
    if command == "history":
        return history(settings, args.target, _day(args.since, "--since"))
    journal = open_journal(settings)
    code = 0
    try:
        keeper = RecordsKeeper(settings, journal, SystemClock())
        if command == "journal":
            day = _day(args.day, "--day") or keeper.today() - timedelta(days=1)
            _draw_if_alone(settings, keeper)
            csv_path, pdf_path = _write_journal(keeper, day)
            print(csv_path)
            print(pdf_path)
        else:
            items = keeper.purge(dry_run=args.dry_run)
            verb = "would remove" if args.dry_run else "removed"
            for item in items:
                for path in item.files:
                    # A name with a line break stays on its line (no forged lines).
                    print(f"{verb} {item.kind}: {shown(path)}")
                for path, why in item.left:
                    where = "would be left in place" if args.dry_run else "left in place"
                    print(f"{where}: {shown(path)} ({shown(why)})")
            count = sum(len(item.files) for item in items)
            left = sum(len(item.left) for item in items)
            done = "would be removed" if args.dry_run else "removed"
            also = f", {left} left in place (looked at again at the next purge)" if left else ""
            print(f"{count} file(s) {done}{also}.")
            # A script running the purge learns that it did not do all it was asked.
            code = 1 if left and not args.dry_run else 0
        keeper.drain_audit()
    finally:
        journal.close()
    return code


def _write_journal(keeper: RecordsKeeper, day: date) -> tuple[Path, Path]:
    """The day's journal; a records folder faxd may not write is said in a sentence that
    names the journal file, not the temp file written first."""
    try:
        return keeper.write_journal(day)
    except (OSError, NotRegularFileError) as exc:
        csv_path = day_paths(keeper.directory, day)[0]
        said = said_of(exc, str(csv_path))
        if isinstance(exc, NotRegularFileError):
            said = f"{csv_path}: {said}"  # the link's own words name a folder, not the file
        raise FaxdError(f"activity journal not written: {said}") from None


def _draw_if_alone(settings: Settings, keeper: RecordsKeeper) -> None:
    """Report PDFs (and the checksums the journal lists) still pending are drawn here only
    when no daemon runs: two drawers of one report would leave two PDFs. The lock is marked
    as the command's: a daemon starting meanwhile (systemd restarting it) exits 1 and is
    started again, where a lock that looked like a daemon's made it exit 2 and stay down."""
    lock = InstanceLock(settings.state_dir, command="journal")
    try:
        lock.acquire()
    except AlreadyRunningError:
        return
    try:
        hang_point("draw_pending")
        keeper.draw_pending()
    finally:
        lock.release()


def _day(written: str | None, option: str) -> date | None:
    if written is None:
        return None
    try:
        day = date.fromisoformat(written)
    except ValueError:
        raise UsageError(f"{option} '{shown(written)}' is not a date like 2026-11-30.") from None
    # The day's local start and end are looked up: 9999-12-31 has no next day.
    try:
        local_day_start(day)
        local_day_start(day + timedelta(days=1))
    except (OverflowError, ValueError, OSError):
        raise UsageError(
            f"{option} '{shown(written)}' is too far in the past or future to look up."
        ) from None
    return day


def existing_journal(settings: Settings) -> Path | None:
    """The journal's path, or None when faxd has not run with this configuration yet.
    UsageError when state_dir is not a folder: that is no journal "yet", it never will be."""
    path = settings.state_dir / JOURNAL_NAME
    if path.exists():
        return path
    for folder in (settings.state_dir, *settings.state_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise UsageError(
                    f"state_dir {settings.state_dir} cannot hold a journal: "
                    f"{folder} is not a directory.",
                    "Point state_dir at a folder ('faxd check-config' checks it).",
                )
            break
    return None


def readonly_journal(settings: Settings) -> Journal | None:
    """The journal opened read-only, or None when faxd has not run with this configuration
    yet (see existing_journal)."""
    path = existing_journal(settings)
    if path is None:
        return None
    return open_journal_file(path, readonly=True)


def audit_verify(settings: Settings) -> int:
    head = None
    path = existing_journal(settings)
    if path is not None:
        journal = open_journal_file(path, readonly=True)
        try:
            head = RecordsLedger(journal, readonly=True).audit_head()
        finally:
            journal.close()
    log = AuditLog(records_dir(settings) / "audit")
    verdict = log.verify(head)
    files = len(log.files())
    if verdict.ok:
        print(f"audit log intact: {verdict.lines} line(s) in {files} file(s).")
        if verdict.note:
            print(verdict.note)
        return 0
    print(f"audit log broken: {verdict.problem}")
    return 1


def history(settings: Settings, target: str, since: date | None) -> int:
    if not target.strip():
        # Part of every name: the whole journal, which is not what was asked.
        raise UsageError(
            "history: name a fax number, a contact or part of a document name.",
            "faxd history NUMBER|DOCUMENT [--since DATE]",
        )
    # A number (or contact name) when it reads as one; otherwise part of a document name.
    try:
        number: str | None = parse_number(target, settings.region, settings.contacts)
    except AddressError:
        number = None
    start = local_day_start(since) if since else 0.0
    path = existing_journal(settings)
    if path is None:
        print("No journal yet: faxd has not run with this configuration.")
        return 0
    journal = open_journal_file(path, readonly=True)
    try:
        ledger = RecordsLedger(journal, readonly=True)
        document = None if number else target
        jobs = ledger.jobs_matching(number, document, start)
        received = ledger.received_matching(number, document, start)
        retried = journal.retries_of([f.job.id for f in jobs])
    finally:
        journal.close()
    rows: list[tuple[float, tuple[str, ...]]] = []
    for filed in jobs:
        job = filed.job
        report = filed.report_pdf or _yaml_report(job.archive_plan)
        if job.archived_at is None:
            report = "(not filed yet)"
        if filed.purged_at is not None:
            report = f"(purged) {report}"
        retry = retried.get(job.id)
        if retry is not None:
            # `faxd retry` took this report's files away; its text lives on in the history
            # of the next attempt's report.
            report = f"(retried as {retry.next_job})" if retry.next_job else "(retried)"
        for tx in filed.transmissions:
            if number and tx.number != number and job.sender != number:
                continue
            when = job.finished_at or job.received_at
            rows.append(
                (
                    when,
                    (
                        _when(when),
                        "sent",
                        tx.number,
                        Path(job.archived_path or job.path).name,
                        tx.state.value,
                        tx.method.value if tx.method else "-",
                        tx.remote_id or "-",
                        report or "-",
                    ),
                )
            )
    for r in received:
        rows.append(
            (
                r.delivered_at,
                (
                    _when(r.delivered_at),
                    "received",
                    r.meta.sender or "-",
                    Path(r.path).name if r.path else "-",
                    "purged" if r.purged_at is not None else "received",
                    r.meta.type or "-",
                    r.remote_id,
                    r.path or "-",
                ),
            )
        )
    if not rows:
        print(f"No transmissions to, from or of '{shown(target)}'.")
        return 0
    rows.sort(key=lambda pair: pair[0])
    header = ("TIME", "DIRECTION", "NUMBER", "DOCUMENT", "RESULT", "METHOD", "ID", "REPORT")
    print(table([header, *[r for _, r in rows]]))
    return 0


def _yaml_report(plan: dict[str, str] | None) -> str | None:
    return plan.get(REPORT_KEY) if plan else None


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
