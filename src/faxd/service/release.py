"""`faxd release PATH|ID`: send a document the misdial guard held, as addressed.

The numbers are remembered first (so the document passes the guard from now on), and the
moves that put its files back where they were found are committed with them; then the
files move, sidecar first and the document before its attachments: whatever moment a
crash picks, the document is in hold/ or in the spool folder, never in both, and running
the command again finishes the same moves. The running daemon (or the next start) takes
the document from the spool folder as if it had just been dropped there."""

from __future__ import annotations

import os
import time
from pathlib import Path

from faxd.core.names import first_free
from faxd.core.printable import shown
from faxd.crash_points import crash_point
from faxd.errors import FaxdError, UsageError
from faxd.host import contained, fsops
from faxd.host.lock import one_command_at_a_time
from faxd.model import JobState
from faxd.service.daemon import open_journal
from faxd.settings import Settings
from faxd.store.journal import Journal
from faxd.store.journal_rows import JobRow


def find_held(journal: Journal, target: str) -> JobRow:
    job = journal.job(target)
    if job is None:
        resolved = str(Path(target).resolve())
        job = journal.job_filed_as(resolved)
    if job is None or job.state != JobState.HELD:
        raise UsageError(
            f"no held document matches '{shown(target)}'.",
            "Give the path of a document in hold/ or its job id ('faxd status' lists them).",
        )
    return job


def held_documents(journal: Journal) -> list[JobRow]:
    """Held jobs still waiting in hold/ (not released, not moved away by hand)."""
    return [
        job
        for job in journal.held_jobs()
        if job.archived_path is not None and os.path.lexists(job.archived_path)
    ]


def release(settings: Settings, target: str) -> int:
    with one_command_at_a_time(settings.state_dir):
        return _release(settings, target)


def _release(settings: Settings, target: str) -> int:
    journal = open_journal(settings)
    try:
        job = find_held(journal, target)
        started = journal.release_of(job.id)
        if started is not None and started[1] is not None:
            raise UsageError(f"job {job.id} was released already.")
        if started is None:
            if job.archived_at is None:
                raise _not_filed_yet(job)
            plan = _plan(settings, job)
            numbers = list(job.options.held_numbers())
            journal.start_release(job.id, numbers, plan, time.time())
        else:
            plan = started[0]
        # The hold report stays in hold/: it is the record of why the document waited.
        moved = _carry_out(job, plan)
        journal.finish_release(job.id, time.time())
    finally:
        journal.close()
    held_to = ", ".join(job.options.held_numbers())
    print(f"{held_to}: remembered; documents to it are no longer held.")
    for src, dst in moved:
        print(f"{src} -> {dst}")
    print("faxd picks it up from the spool folder and sends it.")
    return 0


def _not_filed_yet(job: JobRow) -> FaxdError:
    """A held job whose filing into hold/ has not succeeded (a folder in the way, a full
    disk): it never was in hold/, and faxd keeps trying to put it there."""
    where = f"; its document is still at {job.path}" if os.path.lexists(job.path) else ""
    return FaxdError(
        f"job {job.id} is held but not filed in hold/ yet: faxd could not move it there and"
        f" keeps trying (its log says why){where}. Nothing was released.",
        "Run faxd release again once it is in hold/ ('faxd status' counts the held"
        " documents there).",
    )


def check_way_back(job: JobRow, moves: list[tuple[Path, Path]]) -> None:
    """Refuse before anything moves when a folder on the way of one of the files is a
    symbolic link: it would move in a file from wherever the link leads, to be sent, and a
    document that went back without its attachments would be sent without them."""
    for src, dst in moves:
        for root, path in ((job.options.filing_root(src), src), (Path(job.folder), dst)):
            try:
                contained.check_beneath(root, path)
            except FileNotFoundError:
                continue  # a folder still to be made is made without following links
            except fsops.NotRegularFileError as exc:
                raise FaxdError(
                    f"nothing was moved: {path} cannot be reached without following a link ({exc})",
                    "Put the folder back as faxd made it, then run the command again.",
                ) from None


def require_spool_folder(settings: Settings, job: JobRow, kept_in: str) -> None:
    """The spool folder `job` came from, if faxd still watches it and it is there: a
    document put back anywhere else would wait for ever while the command said it goes."""
    folder = Path(job.folder)
    if not any(f.path == folder for f in settings.folders):
        raise UsageError(
            f"job {job.id} came from {folder}, which is no longer a spool folder.",
            f"Move the document from {kept_in} into a spool folder yourself.",
        )
    if not folder.is_dir():
        raise FaxdError(f"the spool folder {folder} is not there; mount it and try again.")


def _plan(settings: Settings, job: JobRow) -> list[tuple[str, str]]:
    """(file in hold/, where it goes back), sidecar first, the document, then attachments."""
    require_spool_folder(settings, job, "hold/")
    archived = job.archive_plan or {}
    doc_held = Path(archived.get(job.path) or job.archived_path or "")
    if not fsops.is_regular_file(doc_held):
        raise UsageError(
            f"{doc_held} is no longer in hold/; nothing was released.",
            "If it was moved back into a spool folder, faxd checks it again there.",
        )
    original = Path(job.path)
    suffix = Path(job.sidecar).name[len(original.name) :] if job.sidecar else ""

    def taken(name: str) -> bool:
        return os.path.lexists(original.parent / name) or (
            bool(suffix) and os.path.lexists(original.parent / (name + suffix))
        )

    doc_dst = original.parent / first_free(original.name, taken)
    plan: list[tuple[str, str]] = []
    if job.sidecar and archived.get(job.sidecar):
        plan.append((archived[job.sidecar], str(doc_dst) + suffix))
    plan.append((str(doc_held), str(doc_dst)))
    for attachment in job.attachments:
        held = archived.get(attachment)
        if not held or not fsops.is_regular_file(Path(held)):
            continue
        if os.path.lexists(attachment):
            # The sidecar names attachments by name: another name would attach another file.
            raise UsageError(
                f"{attachment} is taken in the spool folder, so the attachment {held} cannot "
                "go back beside its document; move that file away and try again."
            )
        plan.append((held, attachment))
    return plan


def _carry_out(job: JobRow, plan: list[tuple[str, str]]) -> list[tuple[Path, Path]]:
    check_way_back(job, [(Path(a), Path(b)) for a, b in plan if fsops.is_regular_file(Path(a))])
    moved: list[tuple[Path, Path]] = []
    document_taken = False
    for index, (src_text, dst_text) in enumerate(plan):
        src, dst = Path(src_text), Path(dst_text)
        is_document = src_text == (job.archive_plan or {}).get(job.path, job.archived_path)
        if not fsops.is_regular_file(src):
            if is_document and not os.path.lexists(dst):
                document_taken = True  # moved before a crash, and faxd has taken it since
            continue
        if document_taken:
            # Its document was taken without it: putting it back now would send it alone.
            raise FaxdError(
                f"{src} stayed in hold/ while its document was already taken from the spool "
                "folder; send it on its own or with a new sidecar."
            )
        try:
            result = contained.move_checked(
                job.options.filing_root(src), src, Path(job.folder), dst, None
            )
        except FileExistsError:
            raise FaxdError(
                f"{dst} appeared in the spool folder while releasing; move it away and run "
                "'faxd release' again to finish."
            ) from None
        if result != "moved":
            raise FaxdError(f"{src} left hold/ while it was being released; nothing more moved.")
        moved.append((src, dst))
        if index + 1 < len(plan):
            crash_point("release_between_moves")
    return moved
