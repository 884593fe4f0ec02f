"""`faxd send`'s outbox folder (state_dir/outbox/JOB): the copies of the files given and a
sidecar with the numbers typed, the job's spool folder until it is filed. Filing empties
it and removes it (faxd.outbound.outbox_folders); a command that fails before its job is
journaled removes it itself."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

from faxd.core.io_errors import explain_os_error
from faxd.core.names import first_free
from faxd.errors import FaxdError, UsageError
from faxd.settings import Settings
from faxd.store.journal import Journal


def fill(settings: Settings, job_id: str, files: Sequence[Path], numbers: Sequence[str]) -> Path:
    """Make the job's outbox folder and copy `files` into it, with the sidecar that
    addresses them to `numbers`. Returns the document's copy (the first file's)."""
    outbox = settings.outbox_root / job_id
    try:
        outbox.mkdir(parents=True)
    except OSError as exc:
        raise FaxdError(
            f"faxd cannot write into its state_dir {settings.state_dir} ({exc.strerror or exc}).",
            "Free space there or fix its permissions, then send again.",
        ) from None
    copies = [_copy_in(file, outbox) for file in files]
    # Always a sidecar: it is the first rule, so the numbers typed are the ones dialled,
    # whatever a code in the document, a PJL header or the template folder's file-name
    # pattern would read (those are still cleaned out of what is sent).
    addressed: dict[str, object] = {"to": list(numbers)}
    if len(copies) > 1:
        addressed["attach"] = [c.name for c in copies[1:]]
    # Written by the YAML library: a file name may hold quotes, colons or newlines.
    (outbox / f"{copies[0].name}.yaml").write_text(
        yaml.safe_dump(addressed, allow_unicode=True), encoding="utf-8"
    )
    return copies[0]


def _copy_in(file: Path, outbox: Path) -> Path:
    # Two files of one name from different folders (a/x.pdf b/x.pdf) stay two files:
    # "x (2).pdf", never one copied over the other.
    dst = outbox / first_free(file.name, lambda name: os.path.lexists(outbox / name))
    try:
        shutil.copyfile(file, dst)
        with dst.open("rb") as handle:
            os.fsync(handle.fileno())
    except OSError as exc:
        raise UsageError(explain_os_error(exc, str(file))) from None
    return dst


def discard_unjournaled(settings: Settings, job_id: str, journal: Journal | None) -> None:
    """Remove the outbox and work folders of a command that failed before its job was
    journaled: nothing was sent, the files given are where they were, and no job reads
    the copies. While the journal may know the job (its commit failed half-way), they
    stay for the next start's sweep, which asks the journal again."""
    try:
        if journal is not None and journal.job(job_id) is not None:
            return
    except Exception:  # an unreadable journal: the sweep asks it at the next start
        return
    for folder in (settings.outbox_root / job_id, settings.work_root / job_id):
        shutil.rmtree(folder, ignore_errors=True)
