"""Keeps the records (proof, journal, retention, audit): draws the report PDF of
each filed job, copies committed audit events to the audit log, writes yesterday's
activity journal and purges what is past its retention. The daemon runs it in its own
thread, woken after every filing, so filing never waits for a drawing; the one-shot
commands (`faxd journal`, `faxd purge`, `faxd audit verify`, `faxd history`) use it too.

Everything it does is driven by journal rows (`filed_records`, `audit_outbox`), so a
crash at any moment leaves work that the next start finishes.

This module holds the thread, its rounds and the audit log's copying; each part of the
records lives in a module of its own: the report PDFs (records_reports), the activity
journal (records_activity) and retention (records_retention)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog

from faxd.clock import Clock
from faxd.host.fsops import NotRegularFileError, file_sha256
from faxd.model import JobState
from faxd.records.activity import ActivityRow
from faxd.records.audit_log import AuditLog, Verdict
from faxd.records.making import make
from faxd.service import records_retention
from faxd.service.records_activity import ActivityJournal
from faxd.service.records_files import records_dir, said_of
from faxd.service.records_reports import Maker, ReportDrawer
from faxd.service.records_retention import PurgeItem
from faxd.settings import Settings
from faxd.store.journal import Journal, JournalWriteError
from faxd.store.records_ledger import RecordsLedger

log = structlog.get_logger("faxd.service.records")

IDLE = 1.0  # seconds between looks at the outbox when nothing wakes the keeper
BUSY_PACE = 1.0  # seconds between rounds while documents are being sent
# While documents are taken in or uploaded, a report waits (see _yield_to_fax), but at
# least one is drawn this often, so reports of a long backlog still come.
MAX_DEFER = 30.0
DAY_GRACE = 600.0  # seconds into a day before the day before is written up


class Deferral:
    """Says whether work that can wait should wait: while the fax path is busy, yes,
    except once every `longest` seconds, so a long backlog still sees some of it."""

    def __init__(self, busy: Callable[[], bool], clock: Clock, longest: float) -> None:
        self._busy = busy
        self._clock = clock
        self._longest = longest
        self._since: float | None = None

    def waits(self) -> bool:
        if not self._busy():
            self._since = None
            return False
        now = self._clock.monotonic()
        if self._since is None:
            self._since = now
            return True
        if now - self._since >= self._longest:
            self._since = now  # once now, then wait again
            return False
        return True


class RecordsKeeper:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        clock: Clock,
        maker: Maker = make,
        *,
        fax_busy: Callable[[], bool] = lambda: False,
        activity_pdf: Callable[[Sequence[ActivityRow], date, str | None], bytes] | None = None,
        count_pages: Callable[[Sequence[Path]], list[int | None]] | None = None,
    ) -> None:
        """`activity_pdf`, `count_pages`: the drawing helper's (the daemon's); without them
        (a command's short life) the journal is drawn and received pages counted here."""
        self._fax_busy = fax_busy
        self._reports_wait = Deferral(fax_busy, clock, MAX_DEFER)
        self._audit_waits = Deferral(fax_busy, clock, MAX_DEFER)
        self._settings = settings
        self._clock = clock
        self.ledger = RecordsLedger(journal)
        self.directory = records_dir(settings)
        self.audit_log = AuditLog(self.directory / "audit")
        self._wake = threading.Event()
        self._stop = threading.Event()  # the daemon's, once run() has it
        self._reports = ReportDrawer(self.ledger, clock, maker, self._stop_is_set)
        self._activity = ActivityJournal(
            self.ledger,
            settings,
            self.directory,
            draw=activity_pdf,
            count_pages=count_pages,
            stopping=self._stop_is_set,
        )
        self._audit_problem: str | None = None  # said once, until the audit log is written
        self._failing: dict[str, str] = {}  # part -> its failure, said once (_guarded)

    def configure(self, settings: Settings) -> None:
        self._settings = settings
        self.directory = records_dir(settings)
        self.audit_log = AuditLog(self.directory / "audit")
        self._activity.configure(settings, self.directory)

    def configuration_loaded(self, source: Path) -> None:
        try:
            digest: str | None = file_sha256(source)
        except OSError:
            digest = None
        self.ledger.audit("configuration loaded", source=str(source), sha256=digest)

    def wake(self) -> None:
        self._wake.set()

    def _stop_is_set(self) -> bool:
        # Asked at the moment: run() swaps in the daemon's event.
        return self._stop.is_set()

    # -- the daemon's loop -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        self._guarded("report PDFs", self.ledger.requeue_reports)
        while not stop.is_set():
            self.step(stop)
            if self._fax_busy():
                # During a burst every filing wakes the keeper, and each round reads and
                # writes the journal the upload path is waiting for: one round a second.
                stop.wait(BUSY_PACE)
            self._wake.wait(IDLE)
            self._wake.clear()
        self._guarded("audit log", self.drain_audit)

    def step(self, stop: threading.Event | None = None) -> None:
        """One round; each part on its own, so one failing never stops the others."""
        self._guarded("audit log", self._drain_unless_busy)
        self._guarded("report PDFs", lambda: self.draw_pending(stop))
        if stop is None or not stop.is_set():
            self._guarded("daily records", self.daily)
        self._guarded("audit log", self._drain_unless_busy)

    def _guarded(self, what: str, task: Callable[[], Any]) -> None:
        """Run one part; a failure is said once until that part works again (on a full
        state disk the audit drain failed twice a second, each with its traceback)."""
        try:
            task()
        except Exception as exc:  # a bug in the records must never stop faxd sending
            said = f"{exc.__class__.__name__}: {exc}"
            if self._failing.get(what) == said:
                return
            self._failing[what] = said
            if isinstance(exc, JournalWriteError):
                # The journal says its own outage once; this part only waits for it.
                log.warning("records task waits for the journal", task=what, error=str(exc))
            else:
                log.exception("records task failed; tried again shortly", task=what)
        else:
            if self._failing.pop(what, None) is not None:
                log.info("records task works again", task=what)

    # -- audit -------------------------------------------------------------------------

    def _drain_unless_busy(self) -> None:
        """While documents are taken in or uploaded, the events wait in the journal's
        outbox (committed, so a crash loses none) and are copied once the uploads pause, or
        every MAX_DEFER seconds: a burst's ~4 events a document cost the upload path a
        twentieth of its CPU."""
        if not self._audit_waits.waits():
            self.drain_audit()

    def drain_audit(self) -> int:
        """Copy committed events to the audit log in commit order, then forget them. A log
        that cannot be written keeps them in the journal's outbox, said once."""
        total = 0
        while True:
            rows = self.ledger.audit_pending()
            if not rows:
                return total
            try:
                head = self.audit_log.append(rows)
            except (OSError, NotRegularFileError) as exc:
                said = said_of(exc)
                if said != self._audit_problem:  # every second otherwise
                    self._audit_problem = said
                    log.error(
                        "audit log not written; the events wait in the journal",
                        error=said,
                        waiting=len(rows),
                    )
                return total
            self._audit_problem = None
            last = rows[-1].seq
            if head is None:
                return total
            self.ledger.audit_acknowledge(last, f"{head[0]}:{head[1]}")
            total += len(rows)

    def verify_audit(self) -> Verdict:
        return self.audit_log.verify(self.ledger.audit_head())

    # -- report PDFs -------------------------------------------------------------------

    def draw_pending(self, stop: threading.Event | None = None) -> int:
        """Draw every pending report. Between two, the audit log is brought up to date (a
        burst of filings must not hold it back) and a stop is honoured."""
        done = 0
        while True:
            pending = self.ledger.pending_reports()
            if not pending:
                return done
            for filed in pending:
                # A failure is drawn at once, busy or not: its notice tells someone within
                # a minute what went wrong, with this PDF attached. Failures come first.
                urgent = filed.job.state == JobState.FAILED
                if not urgent and self._yield_to_fax():
                    return done  # still pending: drawn once the uploads pause
                if (stop is not None and stop.is_set()) or not self._reports.record(filed):
                    return done  # stopping: the rest is drawn at the next start
                done += 1
                self._guarded("audit log", self.drain_audit)

    def _yield_to_fax(self) -> bool:
        """True: leave the next report for later. Recording one report writes and syncs
        the PDF, a journal commit and the audit log; during a burst those syncs queued
        among the upload path's own and made 400 uploads take 13 s instead of 8. The
        report stays committed as pending, so waiting loses nothing, even across a crash."""
        return self._reports_wait.waits()

    # -- activity journal and retention -----------------------------------------------

    def write_journal(self, day: date) -> tuple[Path, Path]:
        return self._activity.write(day)

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock.time()).astimezone().date()

    def daily(self) -> None:
        """Once a day: yesterday's activity journal (and any day missed while faxd was
        down, up to a month back), then report PDFs that could not be written are drawn
        again, and the purge."""
        # A few minutes into the day, so a fax that finished just before midnight is filed
        # (and in the journal) before its day's journal is written.
        moment = datetime.fromtimestamp(self._clock.time() - DAY_GRACE).astimezone()
        today = moment.date()
        self.draw_pending()  # pages and checksums of the day's last filings first
        if not self._activity.write_due(today):
            return  # tried again shortly, and the purge with it
        if self.ledger.get("purge_day") != today.isoformat():
            self.ledger.requeue_reports()  # PDFs a full disk or a link kept from being written
            self.purge(dry_run=False)
            self.ledger.put("purge_day", today.isoformat())

    def purge(self, *, dry_run: bool) -> list[PurgeItem]:
        """The items due, as planned on a dry run; else each with the files it removed
        (`files`) and those it left in place (`left`)."""
        keep = self._settings.records.retention
        items = records_retention.purge_plan(self.ledger, keep, self.directory, self._clock.time())
        if dry_run:
            return [records_retention.planned(item) for item in items]
        return records_retention.purge(self.ledger, items, self._clock.time())
