"""state_dir/outbox: one folder per `faxd send` job (`outbox/JOB`), with the copies of the
files given and the sidecar of the numbers typed. It is the job's spool folder: the
document lives there until filing moves it to sent/ or failed/, and then the folder goes.
The start-up sweep removes the ones no job needs: a `faxd send` killed before its job
was journaled left its copies there, and a kill right after a filing its empty folder."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import structlog

from faxd.host.job_folders_lock import sweep_unless_making
from faxd.store.journal import Journal
from faxd.store.journal_rows import JobRow

log = structlog.get_logger("faxd.outbound.outbox_folders")


def discard_filed(outbox_root: Path, job: JobRow) -> None:
    """Remove a filed job's outbox folder, once filing left it empty. A file filing left
    there (changed since faxd took it) keeps it: the job's report says it is kept."""
    folder = Path(job.folder)
    if folder == outbox_root / job.id:
        with contextlib.suppress(OSError):
            folder.rmdir()


def sweep(outbox_root: Path, journal: Journal) -> int:
    """Remove the outbox folders of jobs the journal does not know (with their copies:
    the originals are where the user gave them from, and nothing was sent) and the empty
    ones of filed jobs; an unfiled job's stays, its document is still to be sent or filed.
    Returns how many were removed. While a `faxd send` makes its folder, one no journal
    knows yet, the sweep waits for the next start (faxd.host.job_folders_lock)."""
    removed = sweep_unless_making(outbox_root, lambda: _sweep(outbox_root, journal))
    if removed is None:
        log.info(
            "faxd send is making an outbox folder right now; the outbox folders no job "
            "needs are removed at the next start"
        )
        return 0
    return removed


def _sweep(outbox_root: Path, journal: Journal) -> int:
    names = [entry.name for entry in os.scandir(outbox_root) if entry.is_dir(follow_symlinks=False)]
    filed = journal.filed_among(names)
    removed = 0
    for name in names:
        folder = outbox_root / name
        if name not in filed:
            shutil.rmtree(folder, ignore_errors=True)
        elif filed[name]:
            try:
                folder.rmdir()
            except OSError:
                continue  # not empty: a file its report says is kept there
        else:
            continue
        removed += 1
    return removed
