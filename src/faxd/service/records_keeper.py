"""Keeps the records (proof, journal, retention, audit): draws the report PDF of
each filed job, copies committed audit events to the audit log, writes yesterday's
activity journal and purges what is past its retention. The daemon runs it in its own
thread, woken after every filing, so filing never waits for a drawing; the one-shot
commands (`faxd journal`, `faxd purge`, `faxd audit verify`, `faxd history`) use it too.

Everything it does is driven by journal rows (`filed_records`, `audit_outbox`), so a
crash at any moment leaves work that the next start finishes."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog
import yaml

from faxd.clock import Clock
from faxd.core.io_errors import explain_os_error
from faxd.core.names import report_pdf_path
from faxd.errors import FaxdError
from faxd.host import contained, fsops
from faxd.host.fsops import NotRegularFileError, file_sha256
from faxd.host.inbox_folder import META_DIR, SIDECAR_SUFFIX
from faxd.model import JobState
from faxd.outbound.archive import REPORT_CAP, REPORT_KEY, held_outcomes
from faxd.outbound.gathering import SNAPSHOT_CAP
from faxd.printing.postscript import find_ghostscript, postscript_to_pdf
from faxd.records import activity, document_facts, report_pdf
from faxd.records.activity import NOT_FILED, ActivityRow
from faxd.records.audit_log import AuditLog, Verdict
from faxd.records.making import Made, make
from faxd.records.pool import DrawError
from faxd.settings import Settings
from faxd.store.journal import Journal, JournalWriteError
from faxd.store.records_ledger import FiledJob, Received, RecordsLedger

log = structlog.get_logger("faxd.service.records")

IDLE = 1.0  # seconds between looks at the outbox when nothing wakes the keeper
BUSY_PACE = 1.0  # seconds between rounds while documents are being sent
# While documents are taken in or uploaded, a report waits (see _yield_to_fax), but at
# least one is drawn this often, so reports of a long backlog still come.
MAX_DEFER = 30.0
MAX_CATCH_UP_DAYS = 31  # activity journals written for days faxd was down
DAY_GRACE = 600.0  # seconds into a day before the day before is written up
# Days past its usual time a day's journal waits for a job that finished that day to be
# filed (a share down over a weekend); then it is written with what is known.
FILING_WAIT_DAYS = 3


def records_dir(settings: Settings) -> Path:
    return settings.records.path or settings.state_dir / "records"


def local_day_start(day: date) -> float:
    return datetime(day.year, day.month, day.day).astimezone().timestamp()


def _local(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _short(ts: float | None) -> str | None:
    """A time on the report PDF, with its UTC offset as the notes beside it have:
    `2026-12-01 14:50:55 +01:00` (a report read in another zone, or across a clock
    change, is not an hour out)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts).astimezone()
    offset = moment.strftime("%z")  # +0100
    return f"{moment:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:5]}"


PDF_HISTORY = 3


def _history_lines(history: object) -> list[str]:
    """The YAML report's `history:` (earlier attempts put back by `faxd retry`) as lines."""
    if not isinstance(history, list):
        return []
    entries = [e for e in history if isinstance(e, dict)]
    # One A4 page: the newest few; the YAML report lists them all.
    lines = [f"{len(entries) - PDF_HISTORY} earlier attempts"] if len(entries) > PDF_HISTORY else []
    for entry in entries[-PDF_HISTORY:]:
        why = f": {entry['error']}" if entry.get("error") else ""
        lines.append(
            f"Earlier attempt {entry.get('job')} {entry.get('result')} at "
            f"{entry.get('finished_at')}{why}"
        )
    return lines


class Maker(Protocol):
    def __call__(
        self,
        document: Path | None,
        data: report_pdf.ReportData,
        *,
        draw: bool,
        problem: str | None,
        converted: Path | None = None,
    ) -> Made: ...


@dataclass(frozen=True)
class PurgeItem:
    kind: str  # sent | failed | inbox | records
    key: str  # job id, "remote id/file id", or the file itself
    files: tuple[Path, ...]
    mark: Callable[[list[str], float], None] | None = field(default=None, compare=False)
    # The folder faxd was given that holds the files: nothing below it is followed as a
    # link when they are removed.
    root: Path | None = field(default=None, compare=False)
    # After a purge `files` are those removed; these stayed, each with why.
    left: tuple[tuple[Path, str], ...] = ()


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
        self._maker = maker
        self._activity_pdf = activity_pdf
        self._count_pages = count_pages
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
        self._journal_problem: str | None = None  # said once, until a journal is written
        self._waiting_day: date | None = None  # the day whose journal waits for filings
        self._audit_problem: str | None = None  # the same for the audit log
        self._failing: dict[str, str] = {}  # part -> its failure, said once (_guarded)

    def configure(self, settings: Settings) -> None:
        self._settings = settings
        self.directory = records_dir(settings)
        self.audit_log = AuditLog(self.directory / "audit")

    def configuration_loaded(self, source: Path) -> None:
        try:
            digest: str | None = file_sha256(source)
        except OSError:
            digest = None
        self.ledger.audit("configuration loaded", source=str(source), sha256=digest)

    def wake(self) -> None:
        self._wake.set()

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
                if (stop is not None and stop.is_set()) or not self._record(filed):
                    return done  # stopping: the rest is drawn at the next start
                done += 1
                self._guarded("audit log", self.drain_audit)

    def _yield_to_fax(self) -> bool:
        """True: leave the next report for later. Recording one report writes and syncs
        the PDF, a journal commit and the audit log; during a burst those syncs queued
        among the upload path's own and made 400 uploads take 13 s instead of 8. The
        report stays committed as pending, so waiting loses nothing, even across a crash."""
        return self._reports_wait.waits()

    def _record(self, filed: FiledJob) -> bool:
        """Make one job's records; False when a stop interrupted it (still pending)."""
        job = filed.job
        doc = Path(job.archived_path) if job.archived_path else None
        problem = None
        if doc is None or not fsops.is_regular_file(doc):
            doc, problem = None, "the filed document is no longer there"
        target = None
        draw = job.options.report_pdf is not False and bool(job.archive_plan)
        if draw:
            assert job.archive_plan is not None
            report_yaml = Path(job.archive_plan[REPORT_KEY])
            target = report_pdf_path(report_yaml)
            # Drawn before a crash took the commit that said so: keep it, never redraw. No
            # YAML report: `faxd retry` put the document back and took its report away.
            draw = not target.exists() and report_yaml.exists()
        with tempfile.TemporaryDirectory(prefix="faxd-report-") as scratch:
            if doc is not None:
                # Drawn from a copy taken below the folder faxd filed it in, no link
                # followed: a link put in its place would put another file's first page
                # and checksum on the proof of transmission, and in the mail carrying it.
                doc, problem = _private_copy(job.options.filing_root(doc), doc, Path(scratch))
            converted = _as_pdf(doc, Path(scratch)) if draw and doc is not None else None
            data = self._report_data(filed)
            for _ in range(2):  # a drawing process killed once (a stop) is not the document
                made = self._maker(doc, data, draw=draw, problem=problem, converted=converted)
                if not made.interrupted or self._stop.is_set():
                    break
        if made.interrupted and self._stop.is_set():
            return False
        pdf_path = target if target is not None and target.exists() else None
        unwritten = False
        # A retry may have taken the YAML report away while this one was drawn.
        if made.pdf is not None and target is not None and target.with_suffix(".yaml").exists():
            try:
                contained.write_beneath(job.options.filing_root(target), target, made.pdf)
                pdf_path = target
            except (OSError, NotRegularFileError) as exc:
                said = said_of(exc, target.name)
                made = dataclasses.replace(made, error=f"the report PDF cannot be written: {said}")
                unwritten = True
        if made.error and draw:
            log.error(
                "report PDF not drawn",
                job=job.id,
                document=job.rel_path,
                error=made.error,
                **({"hint": "drawn again at the next daily round or start"} if unwritten else {}),
            )
        self.ledger.report_done(
            job.id,
            sha256=made.sha256,
            pages=made.pages,
            report_pdf=str(pdf_path) if pdf_path else None,
            error=made.error,
            when=self._clock.time(),
            retry=unwritten,
        )
        return True

    def _report_data(self, filed: FiledJob) -> report_pdf.ReportData:
        job = filed.job
        written: dict[str, Any] = {}
        if job.archive_plan:
            report = Path(job.archive_plan[REPORT_KEY])
            try:
                # Below the folder it was filed in, no link followed and at most REPORT_CAP:
                # a link in its place (to /dev/zero, to another office's report) would
                # otherwise put whatever it leads to on the proof, and in the mail with it.
                data, _ = contained.read_beneath(
                    job.options.filing_root(report), report, REPORT_CAP, "report"
                )
                loaded = yaml.safe_load(data.decode("utf-8"))
                written = loaded if isinstance(loaded, dict) else {}
            except (OSError, FaxdError, yaml.YAMLError, UnicodeDecodeError):
                pass
        finals = filed.final_times or (None,) * len(filed.transmissions)
        recipients = [
            report_pdf.RecipientLine(
                number=tx.number,
                result=tx.state.value,
                method=tx.method.value if tx.method else None,
                sent_at=_short(tx.submitted_at),
                finished_at=_short(final),
                provider_id=tx.remote_id,
                attempts=tx.attempts,
                error=tx.error,
            )
            for tx, final in zip(filed.transmissions, finals, strict=False)
        ]
        if job.state == JobState.HELD:
            # Held before sending: no transmissions. The recipients as the YAML report
            # lists them, each held (with the guard's reason) or not sent.
            recipients = [
                report_pdf.RecipientLine(
                    number=held.number,
                    result=held.status or "held",
                    method=None,
                    sent_at=None,
                    finished_at=None,
                    provider_id=None,
                    attempts=held.attempts,
                    error=held.error,
                )
                for held in held_outcomes(job)
            ]
        return report_pdf.ReportData(
            result=job.state.value,
            station_name=job.options.station_name,
            our_number=job.sender,
            provider=job.provider,
            job_id=job.id,
            document=Path(job.archived_path or job.path).name,
            pages=None,
            sha256=None,
            reference=job.reference,
            received_at=_short(job.received_at),
            finished_at=_short(job.finished_at),
            recipients=recipients,
            error=written.get("error") or job.error,
            notes=(
                *(str(n) for n in written.get("notes") or ()),
                *_history_lines(written.get("history")),
            ),
        )

    # -- activity journal --------------------------------------------------------------

    def activity_rows(self, day: date) -> list[ActivityRow]:
        start = local_day_start(day)
        end = local_day_start(day + timedelta(days=1))
        rows: list[tuple[float, ActivityRow]] = []
        for filed in self.ledger.finished_between(start, end):
            rows.extend(self._sent_rows(filed))
        received = list(self.ledger.received_between(start, end))
        for one, pages in zip(received, self._received_pages(received), strict=True):
            rows.append((one.delivered_at, self._received_row(one, pages)))
        rows.sort(key=lambda pair: pair[0])
        return [row for _, row in rows]

    @staticmethod
    def _sent_rows(filed: FiledJob) -> list[tuple[float, ActivityRow]]:
        job = filed.job
        finals = filed.final_times or (None,) * len(filed.transmissions)
        out = []
        for tx, final in zip(filed.transmissions, finals, strict=False):
            when = final or job.finished_at or job.received_at
            out.append(
                (
                    when,
                    ActivityRow(
                        time=_local(when),
                        direction="sent",
                        our_number=job.sender or "",
                        other_number=tx.number,
                        document=Path(job.archived_path or job.path).name,
                        pages="" if filed.pages is None else str(filed.pages),
                        result=tx.state.value,
                        method=tx.method.value if tx.method else "",
                        provider=job.provider,
                        id=tx.remote_id or "",
                        sha256=NOT_FILED if job.archived_at is None else filed.sha256 or "",
                    ),
                )
            )
        return out

    def _received_pages(self, received: Sequence[Received]) -> list[int | None]:
        """The pages of each received document still in the inbox, in one call."""
        there = [i for i, r in enumerate(received) if r.path and r.purged_at is None]
        paths = [Path(received[i].path or "") for i in there]
        if self._count_pages is not None:
            counts = self._count_pages(paths)
        else:
            counts = [document_facts.received_pages(path) for path in paths]
        pages: list[int | None] = [None] * len(received)
        for i, count in zip(there, counts, strict=True):
            pages[i] = count
        return pages

    @staticmethod
    def _received_row(r: Received, pages: int | None) -> ActivityRow:
        return ActivityRow(
            time=_local(r.delivered_at),
            direction="received",
            our_number=r.meta.recipient,
            other_number=r.meta.sender,
            document=Path(r.path).name if r.path else r.meta.original_name,
            pages="" if pages is None else str(pages),
            result="received",
            method=r.meta.type,
            provider=r.provider,
            id=r.remote_id,
            sha256=r.sha256 or "",
        )

    def write_journal(self, day: date) -> tuple[Path, Path]:
        station = next((f.station_name for f in self._settings.folders if f.station_name), None)
        paths = activity.write_day(
            self.directory,
            day,
            self.activity_rows(day),
            station,
            self._settings.records.csv,
            draw=self._activity_pdf,
        )
        log.info("activity journal written", day=day.isoformat(), csv=str(paths[0]))
        return paths

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
        yesterday = today - timedelta(days=1)
        last = self.ledger.get("journal_day")
        day = yesterday
        self.draw_pending()  # pages and checksums of the day's last filings first
        if last is not None:
            day = max(
                date.fromisoformat(last) + timedelta(days=1),
                today - timedelta(days=MAX_CATCH_UP_DAYS),
            )
        while day <= yesterday:
            unfiled = self.ledger.unfiled_finished_between(
                local_day_start(day), local_day_start(day + timedelta(days=1))
            )
            if unfiled and (today - day).days <= FILING_WAIT_DAYS:
                self._wait_for_filing(day, unfiled)
                if last is None:  # the first day ever: tomorrow starts from it, not after it
                    self.ledger.put("journal_day", (day - timedelta(days=1)).isoformat())
                break  # the days after it wait too: journal_day only moves on
            try:
                self.write_journal(day)
            except DrawError as exc:
                if not self._stop.is_set():  # a stop kills the helper: drawn at the next start
                    log.warning("activity journal not written; tried again shortly", error=str(exc))
                return
            except (OSError, NotRegularFileError) as exc:
                said = said_of(exc, f"{day.year:04d}/{day.isoformat()}.csv")
                if said != self._journal_problem:  # every second otherwise
                    self._journal_problem = said
                    log.error(
                        "activity journal not written; tried again shortly",
                        day=day.isoformat(),
                        error=said,
                        hint=f"{self.directory} and its year folders must be plain folders "
                        "faxd may write",
                    )
                return
            self._journal_problem = None
            if unfiled:
                log.warning(
                    "activity journal written with documents still not filed: their sha256 "
                    "reads 'not filed', their pages are empty",
                    day=day.isoformat(),
                    jobs=unfiled[:10],
                    count=len(unfiled),
                    hint=f"once they are filed, 'faxd journal --day {day.isoformat()}' "
                    "writes the day again",
                )
            self.ledger.put("journal_day", day.isoformat())
            day += timedelta(days=1)
        if self.ledger.get("purge_day") != today.isoformat():
            self.ledger.requeue_reports()  # PDFs a full disk or a link kept from being written
            self.purge(dry_run=False)
            self.ledger.put("purge_day", today.isoformat())

    def _wait_for_filing(self, day: date, unfiled: Sequence[str]) -> None:
        """Said once a day: the journal is checked every round."""
        if self._waiting_day == day:
            return
        self._waiting_day = day
        log.warning(
            "activity journal waits for documents that finished that day to be filed",
            day=day.isoformat(),
            jobs=list(unfiled[:10]),
            count=len(unfiled),
            latest=(day + timedelta(days=FILING_WAIT_DAYS + 1)).isoformat(),
        )

    # -- retention ---------------------------------------------------------------------

    def purge_plan(self) -> list[PurgeItem]:
        keep = self._settings.records.retention
        now = self._clock.time()
        items: list[PurgeItem] = []
        due = [
            (kind, filed)
            for kind, limit, state in (
                ("sent", keep.sent, JobState.DELIVERED),
                ("failed", keep.failed, JobState.FAILED),
            )
            if limit is not None
            for filed in self.ledger.purgeable_jobs(state.value, now - limit)
        ]
        if due:
            # One look at the later filings for sent and failed alike: it reads every job
            # filed since the oldest one due.
            retried = self.ledger.retried([filed.job.id for _, filed in due])
            since = min(filed.job.archived_at or 0.0 for _, filed in due)
            names = {str(p) for _, filed in due for p in _names(filed)}
            filings = self.ledger.filings_after(since, names)
            for kind, filed in due:
                if (item := self._job_item(kind, filed, retried, filings)) is not None:
                    items.append(item)
        if keep.inbox is not None:
            for received in self.ledger.purgeable_received(now - keep.inbox):
                if (inbox_item := self._received_item(received)) is not None:
                    items.append(inbox_item)
        if keep.records is not None:
            items.extend(self._records_items(now - keep.records))
        return items

    def _job_item(
        self, kind: str, filed: FiledJob, retried: set[str], filings: dict[str, float]
    ) -> PurgeItem | None:
        """What retention removes of a filed job; None while its document's name holds
        another file (changed since it was filed, or put there by hand after a retry): not
        faxd's to delete, and its reports stay with it.

        `retried`: jobs `faxd retry` put back, whose files all left with them; `filings`:
        the latest filing at each name. A name a later job was filed under holds that
        job's file (the same bytes, when a retry was filed where the first attempt was):
        it goes with that job, never with this one."""
        job = filed.job
        doc = Path(job.archived_path) if job.archived_path and job.id not in retried else None
        if doc is not None and not _gone(doc) and not _same(doc, filed.sha256):
            return None
        files = _names(filed) if doc is not None else []
        filed_at = job.archived_at or 0.0
        files = [p for p in files if filings.get(str(p), filed_at) <= filed_at]
        present = tuple(p for p in dict.fromkeys(files) if fsops.is_regular_file(p))
        ledger = self.ledger

        def mark(removed: list[str], when: float) -> None:
            ledger.mark_job_purged(job.id, removed, when)

        root = job.options.filing_root(doc) if doc is not None else None
        return PurgeItem(kind, job.id, present, mark, root)

    def _received_item(self, r: Received) -> PurgeItem | None:
        files: list[Path] = []
        if r.path:
            doc = Path(r.path)
            if not _gone(doc) and not _same(doc, r.sha256):
                return None  # another file at its name: kept, with its metadata
            files = [doc, doc.parent / META_DIR / f"{doc.name}{SIDECAR_SUFFIX}"]
        present = tuple(p for p in files if fsops.is_regular_file(p))
        ledger = self.ledger

        def mark(removed: list[str], when: float) -> None:
            ledger.mark_received_purged(r.remote_id, r.file_id, removed, when)

        # The inbox folder it was delivered to: the document's own folder.
        root = Path(r.path).parent if r.path else None
        return PurgeItem("inbox", f"{r.remote_id}/{r.file_id}", present, mark, root)

    def _records_items(self, before: float) -> list[PurgeItem]:
        """Daily activity journals older than the limit (the audit log is never purged)."""
        cutoff = datetime.fromtimestamp(before).astimezone().date()
        items = []
        for year in sorted(self.directory.glob("[0-9][0-9][0-9][0-9]")):
            for path in sorted(year.iterdir()):
                stem, _, suffix = path.name.partition(".")
                if suffix not in ("csv", "pdf") or not fsops.is_regular_file(path):
                    continue
                try:
                    day = date.fromisoformat(stem)
                except ValueError:
                    continue
                if day < cutoff:
                    items.append(PurgeItem("records", str(path), (path,), root=self.directory))
        return items

    def purge(self, *, dry_run: bool) -> list[PurgeItem]:
        """The items due, as planned on a dry run; else each with the files it removed
        (`files`) and those it left in place (`left`)."""
        items = self.purge_plan()
        if dry_run:
            return [self._planned(item) for item in items]
        now = self._clock.time()
        done = []
        for item in items:
            removed: list[str] = []
            left: list[tuple[Path, str]] = []
            for path in item.files:
                why = self._remove(item, path, removed)
                if why is not None:
                    left.append((path, why))
            done.append(
                dataclasses.replace(item, files=tuple(map(Path, removed)), left=tuple(left))
            )
            if left:
                # Not marked: it is looked at again tomorrow, and said again, until someone
                # has looked at the folder.
                if removed:
                    self.ledger.audit("purged", files=removed)
                continue
            if item.mark is not None:
                item.mark(removed, now)
            elif removed:
                self.ledger.audit("purged", files=removed)
            log.info("purged", kind=item.kind, key=item.key, files=len(removed))
        return done

    @staticmethod
    def _planned(item: PurgeItem) -> PurgeItem:
        """A dry run's item: the files a purge would remove, and those below a folder
        swapped for a link, which it would leave in place."""
        files: list[Path] = []
        left: list[tuple[Path, str]] = []
        for path in item.files:
            root = item.root if item.root is not None else path.parent
            why = contained.link_on_the_way(root, path)
            if why is None:
                files.append(path)
            else:
                left.append((path, why))
        return dataclasses.replace(item, files=tuple(files), left=tuple(left))

    @staticmethod
    def _remove(item: PurgeItem, path: Path, removed: list[str]) -> str | None:
        """Remove one file of a purge (noted in `removed`); why it was left, if it was."""
        root = item.root if item.root is not None else path.parent
        try:
            if contained.unlink_beneath(root, path):
                removed.append(str(path))
        except NotRegularFileError as exc:
            log.warning(
                "past its retention but left in place: faxd does not follow links out of "
                "its folders",
                kind=item.kind,
                key=item.key,
                file=str(path),
                reason=str(exc),
            )
            return str(exc).rstrip(".")
        except OSError as exc:
            # A read-only or failing share: this file waits for the next day's purge, and
            # the rest of this one goes on.
            why = explain_os_error(exc, "").rstrip(".")
            why = why[:1].lower() + why[1:]  # the file is named beside it
            log.error(
                "past its retention but left in place: it could not be removed",
                kind=item.kind,
                key=item.key,
                file=str(path),
                reason=why,
            )
            return why
        return None


def said_of(exc: OSError | NotRegularFileError, name: str | None = None) -> str:
    """One sentence for a records file faxd could not write: a link or odd file in its
    place says so itself; an OSError names `name`, not the temp file written first."""
    return str(exc) if isinstance(exc, NotRegularFileError) else explain_os_error(exc, name)


def _private_copy(root: Path, document: Path, scratch: Path) -> tuple[Path | None, str | None]:
    """A copy of a filed document in `scratch`, or None and why it cannot be read."""
    folder = scratch / "filed"
    folder.mkdir()
    try:
        copy = contained.snapshot(
            root, document, folder / document.name, SNAPSHOT_CAP, single_link=False
        )
    except (OSError, FaxdError) as exc:
        return None, f"the filed document cannot be read ({exc})"
    return copy.path, None


def _as_pdf(document: Path, scratch: Path) -> Path | None:
    """A PDF of a PostScript document (a print job), for its first page; None otherwise.
    The PDF faxd sent is gone by now: converted files are discarded at filing."""
    try:
        with document.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if b"%!PS" not in head or find_ghostscript() is None:
        return None
    target = scratch / "converted.pdf"
    try:
        postscript_to_pdf(document, target, document.name)
    except (FaxdError, OSError):
        return None
    return target


def _names(filed: FiledJob) -> list[Path]:
    """The names a filed job's files were given: the document, its sidecar and attachments
    and the YAML report (all in the archive plan), and the PDF report."""
    job = filed.job
    if not job.archived_path:
        return []
    doc = Path(job.archived_path)
    files = [doc, *(Path(p) for p in (job.archive_plan or {}).values() if p != str(doc))]
    if filed.report_pdf:
        files.append(Path(filed.report_pdf))
    return files


def _gone(path: Path) -> bool:
    """Nothing at all at `path` (a link, even a dangling one, is something)."""
    return not os.path.lexists(path)


def _same(path: Path, sha256: str | None) -> bool:
    if sha256 is None or not fsops.is_regular_file(path):
        return False
    try:
        return file_sha256(path) == sha256
    except OSError:
        return False
