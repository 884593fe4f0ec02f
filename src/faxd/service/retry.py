"""`faxd retry`: a failed document and its files put back from failed/ into the spool
folder they came from, for the daemon to send again (to the numbers not yet reached).
Like the other one-shot commands it returns an exit code and prints what an admin needs;
errors are raised as FaxdError for `cli.main` to word."""

from __future__ import annotations

import os
import time
from pathlib import Path

from faxd.core.io_errors import explain_os_error
from faxd.core.names import first_free, report_pdf_path
from faxd.core.printable import shown
from faxd.core.sidecar import sidecar_names
from faxd.errors import FaxdError, UsageError
from faxd.host import contained, fsops
from faxd.host.lock import one_command_at_a_time
from faxd.model import JobState, TxState
from faxd.outbound.archive import REPORT_CAP, REPORT_KEY
from faxd.service.daemon import open_journal
from faxd.service.release import check_way_back, require_spool_folder
from faxd.settings import Settings
from faxd.store.journal import Journal
from faxd.store.journal_rows import JobRow, RetryRow


def retry(settings: Settings, target: str) -> int:
    with one_command_at_a_time(settings.state_dir):
        return _retry(settings, target)


def _retry(settings: Settings, target: str) -> int:
    journal = open_journal(settings)
    try:
        job = journal.job(target)
        if job is None:
            resolved = str(Path(target).resolve())
            job = journal.job_filed_as(resolved)
        if job is None:
            raise UsageError(
                f"no finished job matches '{shown(target)}'.",
                "Give a job id from 'faxd status' or the path of a document in failed/.",
            )
        if job.state != JobState.FAILED or job.archive_plan is None:
            raise UsageError(f"job {job.id} did not fail; only failed documents are sent again.")
        if job.archived_at is None:
            # Its files are still on their way to failed/ (filing may wait for a folder):
            # a retry now would move nothing, yet record a retry and say it went back.
            raise FaxdError(
                f"job {job.id} failed but is not filed in failed/ yet.",
                "Run faxd retry again once its report is there.",
            )
        if Path(job.folder).is_relative_to(settings.outbox_root):
            raise UsageError(
                f"job {job.id} came from 'faxd send', not from a spool folder.",
                f"Send it again with: faxd send {job.archived_path} --to …",
            )
        require_spool_folder(settings, job, "failed/")
        late = _late_sidecar(job)
        doc_src = Path(job.archive_plan[job.path])
        _refuse_second_retry(job, journal.retry_of(job.id), doc_src)
        original = Path(job.path)
        # Nor a name an unfiled job still holds: a new version at it would be moved
        # aside, and this attempt would lose its history.
        planned = original.parent / first_free(
            original.name,
            lambda n: (
                os.path.lexists(original.parent / n)
                or journal.unfiled_job_at(str(original.parent / n)) is not None
            ),
        )
        note = None
        if late is not None and planned == original:
            note = (
                f"a sidecar {late.name} arrived after the document failed; it is used for "
                "this retry."
            )
        reached = _reached(journal, job)
        check_way_back(job, [(src, dst) for _, src, dst in _filed_files(job)])
        report_yaml = Path(job.archive_plan[REPORT_KEY])
        # Committed before anything moves: the next attempt's report names this one, and
        # this report's text outlives its files.
        journal.record_retry(
            job.id,
            str(planned),
            _ino(doc_src),
            _read_report(job.options.filing_root(report_yaml), report_yaml),
            note,
            time.time(),
        )
        moved = _move_back(job, planned)
        doc_dst = next((dst for src, dst in moved if src == doc_src), None)
        if doc_dst is not None and doc_dst != planned:
            journal.set_retry_path(job.id, str(doc_dst))
        journal.audit("retried", job=job.id, files=[str(dst) for _, dst in moved])
        # Only now that the document is back: its old report would lie in failed/ beside
        # nothing, and the next attempt's report takes the plain name.
        left = _remove_reports(report_yaml) if doc_dst is not None else []
    finally:
        journal.close()
    for src, dst in moved:
        print(f"{src} -> {dst}")
    if note is not None:
        print(note[0].upper() + note[1:])
    elif late is not None:
        print(
            f"A sidecar {late.name} arrived after the document failed, but another "
            f"{original.name} is in the spool folder now, so the document went back as "
            f"{planned.name}: that sidecar belongs to the other {original.name}."
        )
    for path, why in left:
        print(f"the old report {path} stays ({why}).")
    if reached:
        print(
            f"Delivered already, so not sent again: {', '.join(reached)}; "
            "the new report's history names them."
        )
        print("faxd picks it up from the spool folder and sends it to the other recipients.")
    else:
        print("faxd picks it up from the spool folder and sends it again.")
    return 0


def _refuse_second_retry(job: JobRow, retried: RetryRow | None, doc_src: Path) -> None:
    """A job put back once is done with. Once its next attempt was taken, the file at its
    old place in failed/ is that attempt's (filed under the same name): moving it back
    again would delete that attempt's report and drop it from the history."""
    if retried is None:
        return
    if retried.next_job is not None:
        raise UsageError(
            f"job {job.id} was put back for retry already; job {retried.next_job} was its "
            "next attempt.",
            f"'faxd status' shows it; if it failed, retry it: faxd retry {retried.next_job}",
        )
    if not os.path.lexists(doc_src):
        raise UsageError(
            f"job {job.id} was put back for retry already, as {retried.path}.",
            "Run 'faxd status' to see the attempt that followed.",
        )


def _reached(journal: Journal, job: JobRow) -> list[str]:
    """The numbers this attempt or an earlier one delivered: the retry leaves them out."""
    jobs = [job.id, *(earlier.id for earlier, _ in journal.earlier_attempts(job.id))]
    return sorted(
        {t.number for j in jobs for t in journal.transmissions(j) if t.state == TxState.DELIVERED}
    )


def _late_sidecar(job: JobRow) -> Path | None:
    """A sidecar for the document that reached the spool folder after the job was taken
    (its own sidecar, if it had one, was filed with it)."""
    assert job.archive_plan is not None
    original = Path(job.path)
    for name in sidecar_names(original.name):
        candidate = original.parent / name
        if os.path.lexists(candidate):
            own = job.archive_plan.get(job.sidecar) if job.sidecar else None
            if own is not None and os.path.lexists(own):
                raise UsageError(
                    f"a sidecar {candidate} arrived after job {job.id} failed, and the job's "
                    f"own sidecar {own} would go back too.",
                    "Remove the one that is wrong, then run faxd retry again.",
                )
            return candidate
    return None


def _ino(path: Path) -> int | None:
    try:
        return path.lstat().st_ino
    except OSError:
        return None


def _read_report(root: Path, path: Path) -> str | None:
    """The failed attempt's report, kept in the next report's history: read below failed/
    without following a link (a link there would copy any file faxd can read into it)."""
    try:
        data, _ = contained.read_beneath(root, path, REPORT_CAP, "report")
    except (OSError, FaxdError):
        return None
    return data.decode("utf-8", errors="replace")


def _remove_reports(report_yaml: Path) -> list[tuple[Path, str]]:
    """Remove a retried job's report files; the ones that could not be removed, and why."""
    left: list[tuple[Path, str]] = []
    for path in (report_yaml, report_pdf_path(report_yaml)):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            left.append((path, explain_os_error(exc, str(path))))
    return left


def _filed_files(job: JobRow) -> list[tuple[str, Path, Path]]:
    """A failed job's files still in failed/: (spool path, where filed, where it goes)."""
    assert job.archive_plan is not None
    return [
        (original, Path(archived), Path(original))
        for original, archived in job.archive_plan.items()
        if not original.startswith("\x00") and fsops.is_regular_file(Path(archived))
    ]


def _move_back(job: JobRow, planned: Path) -> list[tuple[Path, Path]]:
    """Put a failed job's files back where they were found, under free names (the
    document under `planned`), through folder descriptors that follow no link
    (check_way_back looked at the way first)."""
    moved: list[tuple[Path, Path]] = []
    sidecar_target: Path | None = None
    for original, src, dst in _filed_files(job):
        if original == job.path:
            dst = planned
        if original == job.sidecar and moved:
            # The sidecar must keep naming the document, wherever the document landed.
            doc_dst = moved[0][1]
            dst = doc_dst.with_name(doc_dst.name + Path(original).suffix)
            sidecar_target = dst
        final = contained.move_unique_beneath(
            job.options.filing_root(src), src, Path(job.folder), dst
        )
        if final is None:
            raise FaxdError(f"{src} left failed/ while it was being moved back.")
        moved.append((src, final))
    if sidecar_target is not None and not sidecar_target.exists():
        raise FaxdError(f"could not put the sidecar of job {job.id} back beside its document.")
    return moved
