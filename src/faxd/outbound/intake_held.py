"""What the intake passes over, and what it remembers of files at names jobs hold: names
and trees never picked up, writers still open on a taken name, new versions at a name a
job still has (moved aside by faxd.outbound.new_version), and names freed once the job is
filed (mixed into faxd.outbound.intake.Intake)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import structlog

from faxd.core.names import is_ignored_name
from faxd.core.readiness import Heard, Track, still_writing
from faxd.host import contained
from faxd.outbound import new_version
from faxd.outbound.gathering import sidecar_beside
from faxd.outbound.intake_part import IntakePart
from faxd.outbound.watcher import Change
from faxd.settings import FolderSettings
from faxd.store.journal import JournalWriteError

log = structlog.get_logger("faxd.outbound.intake")

PARENT_CACHE = 10_000  # folders whose spool folder and skipping are remembered
# seconds before a file at a name being taken right now is looked at again (at least)
TAKE_UNDER_WAY_WAIT = 0.25


class IntakeHeld(IntakePart):
    """Skipped and held files (mixed into faxd.outbound.intake.Intake)."""

    # -- skipped -----------------------------------------------------------------------

    def skip_dir(self, path: Path) -> bool:
        return path in self._excluded or path.name.startswith(".")

    def _skipped(self, folder: FolderSettings, path: Path) -> bool:
        """Names never picked up (hidden, temporary and office lock files, sidecars), and
        our own output trees."""
        return self._in_skipped_tree(folder, path) or is_ignored_name(path.name)

    def _in_skipped_tree(self, folder: FolderSettings, path: Path) -> bool:
        """In a hidden folder or one of our own output trees (sent/, failed/ and hold/
        inside the spool folder, whose filed reports are no sidecars)."""
        parent = path.parent
        if path != folder.path and path not in self._excluded:
            skipped = self._parent_skipped.get(parent)
            if skipped is None:
                rel = parent.relative_to(folder.path)
                skipped = any(part.startswith((".", "~")) for part in rel.parts) or any(
                    parent.is_relative_to(x) for x in self._excluded
                )
                if len(self._parent_skipped) < PARENT_CACHE:
                    self._parent_skipped[parent] = skipped
            return skipped
        rel = path.relative_to(folder.path)
        if any(part.startswith((".", "~")) for part in rel.parts[:-1]):
            return True
        return any(path.is_relative_to(x) for x in self._excluded)

    # -- held --------------------------------------------------------------------------

    def _note_writer(self, path: Path, what: Heard) -> None:
        """A file taken (or being taken) is written to again at its name: remember whether
        its writer still has it open, for when the name is free to be taken again (the
        job filed, the take retried). A scanner reusing one name while the previous
        scan is still being sent was otherwise taken half-written at once."""
        key = str(path)
        try:
            # The size matters only to "created" (see readiness.still_writing).
            size = path.lstat().st_size if what == "created" else 0
        except OSError:
            return
        writing = still_writing(what, size)
        if writing:
            self._open_writers.add(key)
        elif writing is not None:
            self._open_writers.discard(key)

    def _still_open(self, path: Path) -> bool:
        """Whether a writer was heard on `path` while it was taken, and no close since
        (forgotten once asked: the file is looked at anew)."""
        key = str(path)
        found = key in self._open_writers
        self._open_writers.discard(key)
        return found

    def _held_file_changed(self, path: Path) -> bool:
        """Whether the file at a job's name is no longer the one the job took, as a scan
        sees it (a version saved while faxd was down, or whose events the watcher lost).
        What each name held is looked up once and remembered until the job is filed:
        every rescan looks at every file a job holds."""
        try:
            now = contained.Identity.of(path.lstat())
        except OSError:
            return False
        key = str(path)
        if key not in self._held_seen:
            job = self._journal.unfiled_job_at(key)
            if job is None:
                return False  # being taken, or an attachment: nothing to remember yet
            source = job.options.sources.get(key)
            self._held_seen[key] = (
                contained.Identity.from_json(source.identity_json()) if source else None
            )
        return self._held_seen[key] not in (None, now)

    def _claimed_due(self, folder: FolderSettings, path: Path, track: Track) -> None:
        """A complete file at a name a job or a take has: a new version of a document
        still being sent is moved aside and taken from there (faxd.outbound.new_version)."""
        if self._claims.being_taken(str(path)):
            # Its take may yet end without a job and free the name: look again later.
            self._tracks[path] = track
            self._push(path, self._clock.time() + max(folder.settle, TAKE_UNDER_WAY_WAIT))
            return
        # The sidecar first: a file that waits for its job's filing anyway is not read
        # through (superseded_job hashes it, up to 64 MiB).
        waits = sidecar_beside(path) is not None
        found = None if waits else new_version.superseded_job(self._journal, path)
        if found is None:
            # The job's own file, or one that waits until the job is filed: rescans
            # need not look again at what is there now.
            with contextlib.suppress(OSError):
                self._held_seen[str(path)] = contained.Identity.of(path.lstat())
            return
        job = found.job
        target = new_version.move_aside(
            self._journal, folder, path, found, lambda p: str(p) in self._claims
        )
        if target is None:
            return  # changed or gone meanwhile (its events bring it back), or stays
        log.info(
            "new version at the name of a document still being sent; moved aside, to be"
            " sent as a document of its own",
            document=str(path),
            moved_to=str(target),
            job=job.id,
        )
        with contextlib.suppress(JournalWriteError):  # said by the journal
            self._journal.audit("moved aside", job=job.id, path=str(path), to=str(target))
        self._tracks[target] = track  # the same file: what was seen of its writer holds
        self._push(target, self._clock.time())

    def release(self, job_id: str) -> None:
        """Forget the paths of an archived job, so a new file at the same name is new work."""
        job = self._journal.job(job_id)
        if job is not None:
            paths = {job.path, *([job.sidecar] if job.sidecar else []), *job.attachments}
            self._claims.forget(paths)
            for path in paths:
                self._held_seen.pop(path, None)
            # A file at those names that is not the one faxd took was written after it took
            # the job (filing left it in place): a new document, taken now rather than at
            # the next rescan.
            root = Path(job.folder)
            sources = job.options.sources
            for left in paths:
                taken = sources.get(left)
                try:
                    st = os.lstat(left)
                except OSError:
                    continue
                changed = (
                    not contained.Identity.from_json(taken.identity_json()).unchanged(st)
                    if taken
                    else False
                )
                if changed and stat.S_ISREG(st.st_mode):
                    what: Heard = "written" if self._still_open(Path(left)) else "touched"
                    self.changes.put(Change(root, Path(left), "file", what))
