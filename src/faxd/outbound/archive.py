"""Filing a finished document: the document, its sidecar and its attachments move
together to sent/ or failed/ (keeping their path below the spool root), with a report
beside them. The destination names are planned and committed first, so a crash in the
middle of the moves is finished on the next start instead of filing things twice."""

from __future__ import annotations

import shutil
from datetime import tzinfo
from pathlib import Path

import structlog

from faxd.clock import Clock
from faxd.core.names import first_free, report_name
from faxd.core.report import RecipientOutcome, build_report, failure_summary, render_report
from faxd.crash_points import crash_point
from faxd.host import fsops
from faxd.model import JobState
from faxd.printing.print_input import discard_work
from faxd.store.journal import JobRow, Journal

log = structlog.get_logger("faxd.outbound.archive")

REPORT_KEY = "\x00report"


def _free_path(directory: Path, name: str, planned: set[str]) -> Path:
    """`name` in directory, numbered past names on disk and names already planned."""

    def taken(candidate: str) -> bool:
        path = directory / candidate
        return path.exists() or str(path) in planned

    return directory / first_free(name, taken)


class Archiver:
    def __init__(
        self,
        journal: Journal,
        clock: Clock,
        tz: tzinfo | None = None,
        work_root: Path | None = None,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._tz = tz
        self._work_root = work_root

    def _plan(self, job: JobRow) -> dict[str, str]:
        root = Path(job.folder)
        dest_root = Path(
            job.options["sent_dir"]
            if job.state == JobState.DELIVERED
            else job.options["failed_dir"]
        )
        plan: dict[str, str] = {}
        sources = [job.path, *([job.sidecar] if job.sidecar else []), *job.attachments]
        for src in sources:
            rel = Path(src).relative_to(root)
            plan[src] = str(_free_path(dest_root / rel.parent, rel.name, set(plan.values())))
        doc_dst = Path(plan[job.path])
        report = report_name(doc_dst.name)
        plan[REPORT_KEY] = str(_free_path(doc_dst.parent, report, set(plan.values())))
        return plan

    def archive(self, job: JobRow) -> Path:
        """Move a finished job's files and write its report; idempotent after a crash."""
        plan = job.archive_plan
        if plan is None:
            plan = self._plan(job)
            self._journal.set_archive_plan(job.id, plan)
        notes: list[str] = []
        for src, dst in plan.items():
            if src == REPORT_KEY:
                continue
            self._move(job, Path(src), Path(dst), notes)
            crash_point("archive_between_moves")
        report_path = Path(plan[REPORT_KEY])
        fsops.write_atomic(report_path, self.report_text(job, notes).encode(), unique=False)
        doc_dst = plan[job.path]
        self._journal.mark_archived(job.id, doc_dst, self._clock.time())
        self._discard_work(job)
        log.info(
            "document filed",
            job=job.id,
            document=job.rel_path,
            state=job.state.value,
            path=doc_dst,
        )
        return Path(doc_dst)

    def _discard_work(self, job: JobRow) -> None:
        """Converted files (Retarus PDFs, print jobs) are not needed once a job is filed."""
        if self._work_root is None:
            return
        shutil.rmtree(self._work_root / job.id, ignore_errors=True)
        discard_work(job.files, self._work_root)

    def _move(self, job: JobRow, src: Path, dst: Path, notes: list[str]) -> None:
        if not fsops.is_regular_file(src):
            if not dst.exists():
                notes.append(f"{src.name} was no longer in the spool folder when faxd filed it.")
            return
        if src == Path(job.path) and job.ino is not None and src.lstat().st_ino != job.ino:
            # Someone replaced the document after faxd took it: the new file is a new job.
            notes.append(
                f"{src.name} was replaced in the spool folder; the new file is kept there."
            )
            return
        if dst.exists():
            dst = dst.parent / first_free(dst.name, lambda n: (dst.parent / n).exists())
        fsops.move_unique(src, dst.parent, dst.name)

    def report_text(self, job: JobRow, notes: list[str]) -> str:
        txs = self._journal.transmissions(job.id)
        outcomes = [
            RecipientOutcome(
                number=t.number,
                method=t.method.value if t.method else None,
                id=t.remote_id,
                status=t.status,
                attempts=t.attempts,
                error=t.error,
            )
            for t in txs
        ]
        error = job.error or failure_summary(outcomes)
        report = build_report(
            document=Path(job.path).name,
            result=job.state.value,
            provider=job.provider,
            reference=job.reference,
            received_at=job.received_at,
            finished_at=job.finished_at,
            recipients=outcomes,
            error=error,
            job_id=job.id,
            rule=job.rule,
            attachments=[Path(a).name for a in job.attachments],
            tz=self._tz,
        )
        if notes:
            report["notes"] = notes
        return render_report(report)
