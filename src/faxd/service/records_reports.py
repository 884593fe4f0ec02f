"""The report PDF of each filed job, the proof of transmission: its data read from the
journal and the YAML report, drawn from a private copy of the filed document, written
beside the YAML report and recorded in the journal. The records keeper decides when (see
its `draw_pending`); this module makes one."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
import yaml

from faxd.clock import Clock
from faxd.core.names import report_pdf_path
from faxd.errors import FaxdError
from faxd.host import contained, fsops
from faxd.host.fsops import NotRegularFileError
from faxd.model import JobState
from faxd.outbound.archive import REPORT_CAP, REPORT_KEY, held_outcomes
from faxd.outbound.gathering import SNAPSHOT_CAP
from faxd.printing.postscript import find_ghostscript, postscript_to_pdf
from faxd.records import report_pdf
from faxd.records.making import Made
from faxd.service.records_files import said_of
from faxd.store.records_ledger import FiledJob, RecordsLedger

log = structlog.get_logger("faxd.service.records")

PDF_HISTORY = 3


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


class ReportDrawer:
    def __init__(
        self, ledger: RecordsLedger, clock: Clock, maker: Maker, stopping: Callable[[], bool]
    ) -> None:
        """`stopping`: whether the daemon is stopping (a drawing it interrupted stays
        pending for the next start)."""
        self._ledger = ledger
        self._clock = clock
        self._maker = maker
        self._stopping = stopping

    def record(self, filed: FiledJob) -> bool:
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
            data = _report_data(filed)
            for _ in range(2):  # a drawing process killed once (a stop) is not the document
                made = self._maker(doc, data, draw=draw, problem=problem, converted=converted)
                if not made.interrupted or self._stopping():
                    break
        if made.interrupted and self._stopping():
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
        self._ledger.report_done(
            job.id,
            sha256=made.sha256,
            pages=made.pages,
            report_pdf=str(pdf_path) if pdf_path else None,
            error=made.error,
            when=self._clock.time(),
            retry=unwritten,
        )
        return True


def _report_data(filed: FiledJob) -> report_pdf.ReportData:
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


def _short(ts: float | None) -> str | None:
    """A time on the report PDF, with its UTC offset as the notes beside it have:
    `2026-12-01 14:50:55 +01:00` (a report read in another zone, or across a clock
    change, is not an hour out)."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts).astimezone()
    offset = moment.strftime("%z")  # +0100
    return f"{moment:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:5]}"


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
