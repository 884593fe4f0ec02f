"""A new version saved at the name of a document that is still being sent.

A scanner that saves every scan under one name overwrites the last one whenever it likes.
faxd took the first version (its copy is what is sent and filed), but the name stays the
first job's until that job is filed; a third save before then used to overwrite the
second, unsent and unsaid. So a complete new version is moved aside, in its own folder,
to the first free numbered name (`scan (2).pdf`), and taken from there as a document of
its own. Only the document itself moves: a job's sidecar or attachments, or a document
with a sidecar beside it, wait for the job to be filed as before, since moving one of them
alone would part it from the files that say where it goes."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from faxd.core.io_errors import explain_os_error
from faxd.core.names import first_free
from faxd.core.print_clues import name_clue
from faxd.core.sidecar import sidecar_names
from faxd.errors import FaxdError
from faxd.host import contained, fsops
from faxd.settings import FolderSettings
from faxd.store.journal import Journal, JournalWriteError
from faxd.store.journal_rows import JobRow

log = structlog.get_logger("faxd.outbound.intake")


@dataclass(frozen=True)
class Superseded:
    """A new version at the name of the unfiled `job`'s document: what it was while its
    bytes (whose digest is `sha256`) were read."""

    job: JobRow
    identity: contained.Identity
    sha256: str


def superseded_job(journal: Journal, path: Path) -> Superseded | None:
    """The unfiled job whose document is `path` and the new version at `path`, when that
    is a regular file with other bytes than the job took or any version moved aside from
    that name before; None when there is nothing to move."""
    job = journal.unfiled_job_at(str(path))
    if job is None or job.path != str(path) or job.sidecar is not None:
        return None
    source = job.options.sources.get(str(path))
    if source is None or source.snapshot is None:
        return None  # journaled before faxd kept copies: its filing needs the spool file
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if contained.Identity.from_json(source.identity_json()).unchanged(st):
        return None
    found = contained.digest_beneath(Path(job.folder), path)
    if found is None:
        return None  # changed while read, or gone: its events bring it back
    sha256, identity = found
    if sha256 == source.sha256 or sha256 in journal.moved_aside_digests(job.id):
        # The same bytes saved again (a touch, a share's client writing it twice, or
        # restoring a file it saw moved away): the job files it, nothing new to send.
        return None
    return Superseded(job, identity, sha256)


def free_name(path: Path, taken: Callable[[Path], bool], name_pattern: str | None = None) -> Path:
    """The first numbered name beside `path` that is free: not on disk, not `taken` (a
    job's), and with no sidecar waiting under it, which would address the version moved
    there. Raises FaxdError when there is none, or when the folder's file-name pattern
    would read another recipient in it."""

    def used(name: str) -> bool:
        candidate = path.with_name(name)
        if os.path.lexists(candidate) or taken(candidate):
            return True
        return any(os.path.lexists(path.with_name(s)) for s in sidecar_names(name))

    name = first_free(path.name, used)
    if _recipients(name_pattern, name) != _recipients(name_pattern, path.name):
        # "fax +4930 123.pdf" -> "fax +4930 123 (2).pdf": a pattern that reads to the dot
        # would dial another number.
        raise FaxdError(
            f"{path.name}: the folder's file-name pattern would read another recipient in {name}."
        )
    return path.with_name(name)


def move(
    root: Path, path: Path, target: Path, identity: contained.Identity
) -> contained.MoveResult:
    """Move the file `path` (below root) to `target` if it is still what `identity` describes.
    FileExistsError when `target` was taken meanwhile; OSError or FaxdError when it
    cannot be moved (a read-only share)."""
    try:
        return contained.move_checked(root, path, root, target, identity)
    except fsops.NotRegularFileError as exc:
        raise FaxdError(str(exc)) from None


def move_aside(
    journal: Journal,
    folder: FolderSettings,
    path: Path,
    found: Superseded,
    taken: Callable[[Path], bool],
) -> Path | None:
    """Move the new version `path` to a free numbered name (`taken`: names jobs hold);
    None when it stays. The name (and the version's digest) is noted for the job's report
    before the move, so a filing of that job in between still says where it went."""
    job_id = found.job.id
    while True:
        try:
            target = free_name(path, taken, folder.name_pattern)
            journal.note_moved_aside(job_id, target.name, found.sha256)
        except JournalWriteError:
            return None  # said by the journal; looked at again at its next event
        except (OSError, FaxdError) as exc:
            _cannot_move(path, exc)
            return None
        try:
            moved = move(folder.path, path, target, found.identity)
        except FileExistsError:
            moved = None  # taken between the look and the move: the next free name
        except (OSError, FaxdError) as exc:
            _cannot_move(path, exc)
            moved = "missing"
        if moved == "moved":
            return target
        with contextlib.suppress(JournalWriteError):
            journal.withdraw_moved_aside(job_id, target.name)
        if moved is not None:
            return None


def _cannot_move(path: Path, exc: OSError | FaxdError) -> None:
    log.warning(
        "could not move a new version aside; it is taken once the document at its name is filed",
        document=str(path),
        error=explain_os_error(exc, path.name) if isinstance(exc, OSError) else str(exc),
    )


def _recipients(pattern: str | None, name: str) -> str | None:
    clue = name_clue(pattern, name)
    return clue.recipients if clue else None
