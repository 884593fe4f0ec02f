"""The daily activity journal of the records: one day's traffic, sent and received, read
from the journal and written as CSV and PDF (faxd.records.activity draws them). The
records keeper writes yesterday's once a day, and any day missed while faxd was down;
`faxd journal` writes one on demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import structlog

from faxd.host.fsops import NotRegularFileError
from faxd.records import activity, document_facts
from faxd.records.activity import NOT_FILED, ActivityRow
from faxd.records.pool import DrawError
from faxd.service.records_files import said_of
from faxd.settings import Settings
from faxd.store.records_ledger import FiledJob, Received, RecordsLedger

log = structlog.get_logger("faxd.service.records")

MAX_CATCH_UP_DAYS = 31  # activity journals written for days faxd was down
# Days past its usual time a day's journal waits for a job that finished that day to be
# filed (a share down over a weekend); then it is written with what is known.
FILING_WAIT_DAYS = 3


def local_day_start(day: date) -> float:
    return datetime(day.year, day.month, day.day).astimezone().timestamp()


def _local(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


class ActivityJournal:
    def __init__(
        self,
        ledger: RecordsLedger,
        settings: Settings,
        directory: Path,
        *,
        draw: Callable[[Sequence[ActivityRow], date, str | None], bytes] | None,
        count_pages: Callable[[Sequence[Path]], list[int | None]] | None,
        stopping: Callable[[], bool],
    ) -> None:
        """`draw`, `count_pages`: the drawing helper's (the daemon's); without them (a
        command's short life) the journal is drawn and received pages counted here.
        `stopping`: whether the daemon is stopping (it kills the drawing helper)."""
        self._ledger = ledger
        self._settings = settings
        self._directory = directory
        self._draw = draw
        self._count_pages = count_pages
        self._stopping = stopping
        self._problem: str | None = None  # said once, until a journal is written
        self._waiting_day: date | None = None  # the day whose journal waits for filings

    def configure(self, settings: Settings, directory: Path) -> None:
        self._settings = settings
        self._directory = directory

    def rows(self, day: date) -> list[ActivityRow]:
        start = local_day_start(day)
        end = local_day_start(day + timedelta(days=1))
        rows: list[tuple[float, ActivityRow]] = []
        for filed in self._ledger.finished_between(start, end):
            rows.extend(self._sent_rows(filed))
        received = list(self._ledger.received_between(start, end))
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

    def write(self, day: date) -> tuple[Path, Path]:
        station = next((f.station_name for f in self._settings.folders if f.station_name), None)
        paths = activity.write_day(
            self._directory,
            day,
            self.rows(day),
            station,
            self._settings.records.csv,
            draw=self._draw,
        )
        log.info("activity journal written", day=day.isoformat(), csv=str(paths[0]))
        return paths

    def write_due(self, today: date) -> bool:
        """Yesterday's journal, and any day missed while faxd was down (up to a month
        back); False when one could not be written (tried again shortly)."""
        yesterday = today - timedelta(days=1)
        last = self._ledger.get("journal_day")
        day = yesterday
        if last is not None:
            day = max(
                date.fromisoformat(last) + timedelta(days=1),
                today - timedelta(days=MAX_CATCH_UP_DAYS),
            )
        while day <= yesterday:
            unfiled = self._ledger.unfiled_finished_between(
                local_day_start(day), local_day_start(day + timedelta(days=1))
            )
            if unfiled and (today - day).days <= FILING_WAIT_DAYS:
                self._wait_for_filing(day, unfiled)
                if last is None:  # the first day ever: tomorrow starts from it, not after it
                    self._ledger.put("journal_day", (day - timedelta(days=1)).isoformat())
                break  # the days after it wait too: journal_day only moves on
            try:
                self.write(day)
            except DrawError as exc:
                if not self._stopping():  # a stop kills the helper: drawn at the next start
                    log.warning("activity journal not written; tried again shortly", error=str(exc))
                return False
            except (OSError, NotRegularFileError) as exc:
                said = said_of(exc, f"{day.year:04d}/{day.isoformat()}.csv")
                if said != self._problem:  # every second otherwise
                    self._problem = said
                    log.error(
                        "activity journal not written; tried again shortly",
                        day=day.isoformat(),
                        error=said,
                        hint=f"{self._directory} and its year folders must be plain folders "
                        "faxd may write",
                    )
                return False
            self._problem = None
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
            self._ledger.put("journal_day", day.isoformat())
            day += timedelta(days=1)
        return True

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
