"""Filing a finished document: the document, its sidecar and its attachments move
together to sent/ or failed/ (keeping their path below the spool root), with a report
beside them. The destination names are planned and committed first, so a crash in the
middle of the moves is finished on the next start instead of filing things twice."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import threading
from datetime import tzinfo
from pathlib import Path

import structlog

from faxd.clock import Clock
from faxd.core.io_errors import explain_os_error
from faxd.core.names import (
    MAX_NUMBERED,
    NAME_MAX,
    cut_keeping_extensions,
    first_free,
    labelled,
    name_bytes,
    report_name,
    report_pdf_path,
    split_extension,
)
from faxd.core.report import (
    EarlierAttempt,
    RecipientOutcome,
    failure_summary,
    render_report,
)
from faxd.core.sidecar import sidecar_names
from faxd.crash_points import crash_point
from faxd.errors import FaxdError
from faxd.host import contained, fsops
from faxd.host.folders import create_if_missing
from faxd.host.job_folders_lock import sweep_unless_making
from faxd.model import JobState, TxState
from faxd.outbound import outbox_folders
from faxd.outbound.spool_presence import SpoolPresence
from faxd.printing.print_input import discard_work
from faxd.settings import Settings
from faxd.store.journal import Journal
from faxd.store.journal_rows import JobRow

log = structlog.get_logger("faxd.outbound.archive")

REPORT_KEY = "\x00report"
# A report is a few kilobytes; a larger file in its place is not one.
REPORT_CAP = 1024 * 1024


class SpoolAwayError(FaxdError):
    """The spool folder, or the folder a job is filed into, is not there right now."""


def _numbered_within(name: str, n: int, max_bytes: int) -> str:
    """names.numbered(name, n), cut to `max_bytes` instead of NAME_MAX: room is left
    for the suffix a sidecar adds to its document's name."""
    if n == 1 and name_bytes(name) <= max_bytes:
        return name
    stem, ext = split_extension(name)
    suffix = (f" ({n})" if n > 1 else "") + ext
    return cut_keeping_extensions(stem, max_bytes - name_bytes(suffix)) + suffix


_TEMP_NAME = re.compile(r"\.faxd-\d+-\w+\.tmp")


def _first_free_in(directory: Path, name: str, planned: set[Path]) -> Path:
    """`name` in directory, numbered past names on disk (a dangling link too) and names
    this plan already chose."""

    def taken(candidate: str) -> bool:
        path = directory / candidate
        return os.path.lexists(path) or path in planned

    return directory / first_free(name, taken)


def filing_root(job: JobRow) -> Path:
    """sent/ for a delivered job, hold/ for a held one, failed/ otherwise."""
    if job.state == JobState.DELIVERED:
        return Path(job.options.filing_dir("sent"))
    if job.state == JobState.HELD:
        return Path(job.options.filing_dir("hold"))
    return Path(job.options.filing_dir("failed"))


def held_outcomes(job: JobRow) -> list[RecipientOutcome]:
    """A held job has no transmissions: its report lists each number and why it waits."""
    hold = job.options.hold
    reasons = hold.reasons if hold is not None else {}
    return [
        RecipientOutcome(
            number=number,
            method=None,
            id=None,
            status="held" if reasons.get(number) else "not sent",
            attempts=0,
            error=reasons.get(number),
        )
        for number in job.options.held_numbers()
    ]


def _still_there(src: Path, expect: contained.Identity | None) -> bool:
    try:
        st = src.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (expect is None or expect.unchanged(st))


class Archiver:
    def __init__(
        self,
        journal: Journal,
        clock: Clock,
        tz: tzinfo | None = None,
        work_root: Path | None = None,
        outbox_root: Path | None = None,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._tz = tz
        self._work_root = work_root
        self._outbox_root = outbox_root
        self._failing: dict[str, str] = {}  # job id -> why it could not be filed (logged)
        self._lock = threading.Lock()
        self.presence = SpoolPresence(journal)

    @classmethod
    def of(cls, settings: Settings, journal: Journal, clock: Clock) -> Archiver:
        """The archiver of a faxd working `settings`' state_dir: it removes the work and
        outbox folders of the jobs it files, and sweeps those no job needs."""
        return cls(journal, clock, work_root=settings.work_root, outbox_root=settings.outbox_root)

    def _plan(self, job: JobRow) -> dict[str, str]:
        """Where each of the job's files goes. The document, its sidecar and its reports
        share one numbering: the first n for which the document's n-th name and every name
        that pairs with it are free. So `X.report.yaml` (and `X.report.pdf`, `X.yaml`)
        beside a filed `X` are always that job's, never an earlier attempt's left behind.
        Attachments take their own first free names: the same `terms.pdf` attached to every
        order must not number every order filed after the first."""
        root = Path(job.folder)
        dest_root = filing_root(job)
        doc = Path(job.path)
        doc_dir = dest_root / doc.relative_to(root).parent
        # The sidecar is named after the document ("a.pdf.yaml"): it follows the document's
        # numbered name, and that name is cut short enough for the sidecar's to fit too.
        suffix = None
        if job.sidecar:
            sidecar = Path(job.sidecar)
            if sidecar.parent == doc.parent and sidecar.name.startswith(doc.name):
                suffix = sidecar.name[len(doc.name) :] or None
        room = NAME_MAX - name_bytes(suffix or "")
        plan: dict[str, Path] | None = None
        for n in range(1, MAX_NUMBERED + 1):
            name = _numbered_within(doc.name, n, room)
            targets = {job.path: doc_dir / name}
            if job.sidecar and suffix is not None:
                targets[job.sidecar] = doc_dir / (name + suffix)
            report = doc_dir / report_name(name)
            targets[REPORT_KEY] = report
            # Every name that pairs with this one, whether or not this job has that file:
            # an earlier attempt's sidecar or report there would be read as this one's.
            paired = {*targets.values(), report_pdf_path(report)}
            paired.update(doc_dir / s for s in sidecar_names(name))
            if not any(map(os.path.lexists, paired)):
                plan = targets
                break
        if plan is None:
            raise FaxdError(
                f"{doc.name}: no free name in {doc_dir} after {MAX_NUMBERED} numbered tries.",
                "Clear out the destination folder; it holds far too many files of this name.",
            )
        own_names = [
            *([job.sidecar] if job.sidecar and suffix is None else []),
            *job.attachments,
        ]
        for src in own_names:
            rel = Path(src).relative_to(root)
            plan[src] = _first_free_in(dest_root / rel.parent, rel.name, set(plan.values()))
        return {src: str(dst) for src, dst in plan.items()}

    def try_archive(self, job: JobRow) -> bool:
        """archive(), but a filing error (an unwritable sent/ subfolder, a spool folder
        that is away) leaves the job unfiled instead of raising: it is logged once, and
        the daemon tries again later. True when the job is filed.

        Serialised, and on the journal's current row: the engine, the intake and the
        daemon's retry may all come to file one job."""
        with self._lock:
            return self._try_archive(job.id)

    def failing(self) -> list[str]:
        """The jobs whose filing failed and that are not filed yet."""
        with self._lock:
            return list(self._failing)

    def _try_archive(self, job_id: str) -> bool:
        job = self._journal.job(job_id)
        if job is None or job.archived_at is not None:
            self._failing.pop(job_id, None)
            return True
        try:
            self.archive(job)
        except (OSError, FaxdError) as exc:
            reason = str(exc) if isinstance(exc, FaxdError) else explain_os_error(exc)
            # The same trouble names another temporary file at each try: said once.
            same = _TEMP_NAME.sub(".faxd-….tmp", reason)
            if self._failing.get(job.id) != same:
                self._failing[job.id] = same
                log.error(
                    "could not file the document; it stays where it is and faxd keeps trying",
                    job=job.id,
                    document=job.rel_path,
                    error=reason,
                )
            return False
        if self._failing.pop(job.id, None) is not None:
            log.info("document filed after all", job=job.id, document=job.rel_path)
        return True

    def _check_reachable(self, job: JobRow) -> None:
        """Nothing is filed out of, or into, a folder that is away (an unmounted share, a
        renamed folder): moving would report the documents as gone, and creating the
        destination would build a tree under the bare mount point."""
        spool = Path(job.folder)
        if self.presence.away(spool):
            raise SpoolAwayError(
                f"the spool folder {spool} is not there (an unmounted share or a renamed "
                "folder); faxd files the document once the folder is back."
            )
        dest_root = filing_root(job)
        if not dest_root.is_dir() and not create_if_missing(dest_root):
            raise SpoolAwayError(
                f"{dest_root} is not there, nor can it be created because {dest_root.parent} "
                "is missing too; mount the share or create the folder, and faxd files the "
                "document then."
            )

    def archive(self, job: JobRow) -> Path:
        """Move a finished job's files and write its report; idempotent after a crash."""
        self._check_reachable(job)
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
        report_root = filing_root(job)
        if not report_path.is_relative_to(report_root):
            report_root = report_path.parent
        contained.write_beneath(report_root, report_path, self.report_text(job, notes).encode())
        doc_dst = plan[job.path]
        self._journal.mark_archived(job.id, doc_dst, self._clock.time())
        self._discard_work(job)
        if self._outbox_root is not None:
            outbox_folders.discard_filed(self._outbox_root, job)
        log.info(
            "document filed",
            job=job.id,
            document=job.rel_path,
            state=job.state.value,
            path=doc_dst,
        )
        return Path(doc_dst)

    def sweep_work(self) -> int:
        """Remove the work folders no unfiled job owns; at start-up, before anything is
        taken. They hold copies of documents: a kill between a take's copy and its
        journal record, or between a filing and its clean-up, left them behind, and
        nothing else would ever remove them. Returns how many were removed. While a
        `faxd send` or `faxd explain` makes a work folder, one no journal knows yet, the
        sweep waits for the next start (faxd.host.job_folders_lock)."""
        if self._work_root is None:
            return 0
        work_root = self._work_root
        removed = sweep_unless_making(work_root, lambda: self._sweep_work(work_root))
        if removed is None:
            log.info(
                "a faxd command is making a work folder right now; the work folders no job "
                "owns are removed at the next start"
            )
            return 0
        return removed

    def sweep_outbox(self) -> int:
        """Remove the `faxd send` outbox folders no job needs; at start-up, with the work
        folders (faxd.outbound.outbox_folders)."""
        if self._outbox_root is None:
            return 0
        return outbox_folders.sweep(self._outbox_root, self._journal)

    def _sweep_work(self, work_root: Path) -> int:
        names = [
            entry.name
            for entry in os.scandir(work_root)
            # print-*: an older faxd's conversions, removed when their job is filed.
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("print-")
        ]
        owned = self._journal.unfiled_among(names)
        orphans = [name for name in names if name not in owned]
        for name in orphans:
            shutil.rmtree(work_root / name, ignore_errors=True)
        return len(orphans)

    def _discard_work(self, job: JobRow) -> None:
        """Converted files (Retarus PDFs, print jobs) are not needed once a job is filed."""
        if self._work_root is None:
            return
        shutil.rmtree(self._work_root / job.id, ignore_errors=True)
        # Jobs taken by an older faxd kept print conversions in work/print-*/ instead.
        discard_work((f.path for f in job.files), self._work_root)

    def _move(self, job: JobRow, src: Path, dst: Path, notes: list[str]) -> None:
        """Move src to dst if it is still the file faxd took; otherwise file the copy faxd
        took (the bytes it checked and sent) and leave the changed file where it is."""
        source = job.options.sources.get(str(src))
        expect = contained.Identity.from_json(source.identity_json()) if source else None
        if os.path.lexists(dst):
            if not _still_there(src, expect):
                return  # moved (or its copy filed) before a crash
            # Another job filed a file of that name since the plan was made.
            dst = dst.parent / first_free(dst.name, lambda n: os.path.lexists(dst.parent / n))
        dest_root = filing_root(job)
        if not dst.is_relative_to(dest_root):
            dest_root = dst.parent
        if expect is None and str(src) == job.path and job.ino is not None:
            # A job journaled before faxd kept copies: only the inode was recorded.
            with contextlib.suppress(OSError):
                if src.lstat().st_ino != job.ino:
                    notes.append(
                        f"{src.name} was replaced in the spool folder; the new file is kept there."
                    )
                    return
        # A destination folder swapped for a link raises: the job stays unfiled, and says so.
        moved = contained.move_checked(Path(job.folder), src, dest_root, dst, expect)
        saved_again = False
        if moved == "changed" and source is not None and source.sha256:
            # Saved again with the very bytes faxd sent (a touch, a client writing it
            # twice): still the document, so it is filed, not taken and sent again.
            again = contained.same_content_beneath(Path(job.folder), src, source.sha256)
            if again is not None:
                moved = contained.move_checked(Path(job.folder), src, dest_root, dst, again)
                saved_again = moved == "moved"
        if moved == "moved" and not saved_again:
            return  # the very file faxd took: nothing happened at its name meanwhile
        # Other versions saved at its name meanwhile may have been moved aside.
        aside = self._journal.moved_aside(job.id) if str(src) == job.path else []
        if aside:
            notes.append(
                f"A new version saved as {src.name} while this one was being sent was moved"
                f" to {', '.join(aside)} and is sent as a document of its own."
            )
        if moved == "moved":
            return
        copy = Path(source.snapshot) if source and source.snapshot else None
        if copy is None or not fsops.is_regular_file(copy):
            if moved == "missing" and os.path.lexists(src):
                notes.append(f"{src.name} is not a regular file; faxd left it where it is.")
            elif moved == "missing":
                notes.append(f"{src.name} was no longer in the spool folder when faxd filed it.")
            else:
                notes.append(
                    f"{src.name} was replaced in the spool folder; the new file is kept there."
                )
            return
        contained.copy_in(copy, dest_root, dst)
        if moved == "changed" and self._file_resaved_aside(job, src, dest_root, dst, notes):
            return
        if moved == "changed":
            notes.append(
                f"{src.name} was changed in the spool folder after faxd took it; filed here is "
                "the content faxd checked and sent, and the changed file is sent as a new "
                "document."
            )
        elif aside:
            notes.append("Filed here is the content faxd checked and sent.")
        else:
            notes.append(
                f"{src.name} was no longer in the spool folder when faxd filed it; filed here "
                "is the content faxd checked and sent."
            )

    def _file_resaved_aside(
        self, job: JobRow, src: Path, dest_root: Path, dst: Path, notes: list[str]
    ) -> bool:
        """The file at the job's name holds the bytes of a version moved aside from it
        (a share's client restoring the file it saw go): that version is sent on its own,
        so this file is filed beside the job's, not taken and sent a second time."""
        if str(src) != job.path:
            return False
        found = contained.digest_beneath(Path(job.folder), src)
        if found is None:
            return False
        sha256, identity = found
        name = self._journal.moved_aside_digests(job.id).get(sha256)
        if name is None:
            return False
        # Named apart from that version's own filing, which may come here later.
        label = labelled(name, "saved again")
        try:
            there = dst.parent / first_free(label, lambda n: os.path.lexists(dst.parent / n))
            moved = contained.move_checked(Path(job.folder), src, dest_root, there, identity)
        except (OSError, FaxdError):
            return False  # left where it is, as a changed file
        if moved != "moved":
            return False  # changed again meanwhile: a new version, taken once this is filed
        log.info(
            "the bytes of a version moved aside were saved again at the document's name;"
            " filed, not sent twice",
            job=job.id,
            document=str(src),
            filed_as=str(there),
            sent_as=name,
        )
        notes.append(
            f"{src.name} was then saved again with the bytes of {name}; rather than send them"
            f" twice, faxd filed that file here as {there.name}. Filed as {dst.name} is the"
            " content faxd checked and sent."
        )
        return True

    def _outcomes(self, job_id: str) -> list[RecipientOutcome]:
        return [
            RecipientOutcome(
                number=t.number,
                method=t.method.value if t.method else None,
                id=t.remote_id,
                status=t.status,
                attempts=t.attempts,
                error=t.error,
            )
            for t in self._journal.transmissions(job_id)
        ]

    def _history(self, job: JobRow) -> list[EarlierAttempt]:
        """The document's earlier attempts (put back by `faxd retry`), oldest first."""
        return [
            EarlierAttempt(
                job=earlier.id,
                result=earlier.state.value,
                finished_at=earlier.finished_at,
                error=earlier.error or failure_summary(self._outcomes(earlier.id)),
                retried_at=retry.retried_at,
                note=retry.note,
                delivered=[
                    t.number
                    for t in self._journal.transmissions(earlier.id)
                    if t.state == TxState.DELIVERED
                ],
            )
            for earlier, retry in reversed(self._journal.earlier_attempts(job.id))
        ]

    def report_text(self, job: JobRow, notes: list[str]) -> str:
        outcomes = self._outcomes(job.id)
        if job.state == JobState.HELD:
            outcomes = held_outcomes(job)
        error = job.error or failure_summary(outcomes)
        return render_report(
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
            history=self._history(job),
            notes=notes,
        )
