"""Tracking files until they are ready to be taken: the watcher's and the scans' changes,
sidecars as they arrive (and those that come after their document failed), when each file
is due (faxd.core.readiness), and the due ones handed over to be taken (mixed into
faxd.outbound.intake.Intake)."""

from __future__ import annotations

import contextlib
import heapq
import os
import stat
import threading
from pathlib import Path

import structlog

from faxd.config.sidecar import SidecarError, parse_sidecar_bytes
from faxd.core.readiness import (
    APPEARED_CLOSE_WAIT,
    Snapshot,
    Track,
    answered,
    ask_at,
    heard,
    observe,
    ready_at,
)
from faxd.errors import FaxdError
from faxd.host import contained
from faxd.host.writers import open_writers
from faxd.outbound.gathering import SIDECAR_CAP, sidecar_beside
from faxd.outbound.intake_part import IntakePart
from faxd.outbound.watcher import Change, filesystem_type, network_filesystem
from faxd.settings import FolderSettings
from faxd.store.journal import JournalWriteError

log = structlog.get_logger("faxd.outbound.intake")

SIDECAR_SUFFIXES = (".yaml", ".yml")
# A sidecar without its document for this long (seconds, past the folder's settle and
# sidecar_wait) is looked up: did its document fail before it came?
LATE_SIDECAR_AGE = 10.0
DUE_BATCH = 200  # due files looked at before the next batch of watcher events


class IntakeTracking(IntakePart):
    """Per-file readiness (mixed into faxd.outbound.intake.Intake)."""

    # -- changes and readiness ---------------------------------------------------------

    def _handle_safely(self, change: Change) -> None:
        """_handle, but a file that trips an unforeseen error costs only itself (it is seen
        again at the next rescan), never the intake thread."""
        try:
            self._handle(change)
        except Exception:
            log.exception(
                "could not look at a file; it is looked at again at the next rescan",
                document=str(change.path),
            )

    def _handle(self, change: Change) -> None:
        folder = self._folder_of(change.path)
        if folder is None:
            return
        if change.kind == "dir":
            if not self.skip_dir(change.path) and not self._skipped(folder, change.path):
                # A file written right after its folder was created may precede the watch.
                self.scan(change.path, first=True)
            return
        path = change.path
        if path.name.endswith(SIDECAR_SUFFIXES):
            if not self._in_skipped_tree(folder, path):
                self._sidecar_arrived(path)
            return
        if self._skipped(folder, path):
            return
        if str(path) in self._claims:
            self._note_writer(path, change.heard)
            if change.heard in ("found", "appeared") and not self._held_file_changed(path):
                return  # a scan's look at the very file a job took
            # Heard written at a job's name: tracked like any file, and once complete
            # moved aside to be sent on its own (_claimed_due).
        try:
            st = path.lstat()
        except OSError:
            self._tracks.pop(path, None)
            return
        if not stat.S_ISREG(st.st_mode):
            if path not in self._ignored_logged:
                self._ignored_logged.add(path)
                log.info("not a regular file; ignored", document=str(path))
            return
        now = self._clock.time()
        snap = Snapshot(st.st_size, st.st_mtime, st.st_ino)
        track = heard(self._tracks.get(path), snap, change.heard, now)
        self._tracks[path] = track
        # A first guess of when it is due, from the sidecars reported so far: every event
        # of a file being written would otherwise probe the disk for sidecar names. When
        # it comes due, _process_due looks on disk; a sidecar reported later pushes it anew.
        due = self._ready_time(folder, path, track, look=path.parent in self._sidecars)
        self._push(path, self._next_look(folder, track, due))

    def _sidecar_arrived(self, sidecar: Path) -> None:
        self._sidecars.setdefault(sidecar.parent, set()).add(sidecar)
        self._attach_cache.pop(sidecar, None)  # it may have been rewritten in place
        document = sidecar.with_suffix("")
        track = self._tracks.get(document)
        folder = self._folder_of(document)
        if folder is not None and folder.path not in self._sidecar_roots:
            # From now on this folder's documents wait `sidecar_wait` for theirs; the
            # journal remembers it across restarts (a sidecar is filed with its document).
            self._sidecar_roots.add(folder.path)
            log.info("sidecar seen; documents here wait for theirs", folder=str(folder.path))
            with contextlib.suppress(JournalWriteError):
                self._journal.note_sidecars_seen(folder.path)
        if track is not None and folder is not None:
            self._push(document, self._ready_time(folder, document, track))
        elif folder is not None and sidecar not in self._late_checked:
            self._note_late_sidecar(folder, sidecar, document)

    def _note_late_sidecar(self, folder: FolderSettings, sidecar: Path, document: Path) -> None:
        """A sidecar whose document was already taken and failed is read by nobody: say so
        once, and how to send the document again with it."""
        if os.path.lexists(document) or str(sidecar) in self._claims:
            return
        try:
            st = sidecar.lstat()
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode):
            return  # a link is never read: its document's report already said so
        # Young, it may be a sidecar written before its document: a rescan looks again.
        if (
            self._clock.time() - st.st_mtime
            < folder.settle + folder.sidecar_wait + LATE_SIDECAR_AGE
        ):
            return
        self._late_checked.add(sidecar)  # looked up once, not at every rescan
        try:
            failed = self._journal.failed_job_from(str(document))
        except JournalWriteError:
            return
        if failed is not None:
            log.warning(
                "a sidecar arrived after its document had already failed; it is not used "
                "unless the document is sent again",
                sidecar=str(sidecar),
                job=failed.id,
                hint=f"faxd retry {failed.id} puts the document back beside this sidecar",
            )

    def _ready_time(
        self, folder: FolderSettings, path: Path, track: Track, *, look: bool = True
    ) -> float:
        """look=False: as if it had no sidecar, without looking on disk."""
        # A close the watcher missed is an event lost like any other: the file waits as
        # long as the rescan that would catch such a loss.
        close_wait = folder.rescan_interval
        if folder.sidecar_wait_if_seen and folder.path not in self._sidecar_roots:
            # A folder that never had a sidecar: nothing to wait or look for (a sidecar
            # that comes is reported first, and decide() looks once more).
            return ready_at(track, folder.settle, 0.0, False, close_wait=close_wait)
        sidecar = sidecar_beside(path) if look else None
        when = ready_at(
            track, folder.settle, folder.sidecar_wait, sidecar is not None, close_wait=close_wait
        )
        if sidecar is not None:
            with contextlib.suppress(OSError):
                when = max(when, sidecar.lstat().st_mtime + folder.settle)
            # Its attachments go in the same upload: each must be complete as well.
            for name in self._attach_names(sidecar) or ():
                attached = self._tracks.get(path.parent / name)
                if attached is not None:
                    attached_at = ready_at(
                        attached, folder.settle, 0.0, True, close_wait=close_wait
                    )
                    when = max(when, attached_at)
        return when

    def _next_look(self, folder: FolderSettings, track: Track, due: float) -> float:
        """When to look at the file again: when it is due, or sooner to ask the kernel about
        its writers."""
        asking = ask_at(track, folder.settle)
        return due if asking is None else min(due, asking)

    def _ask_writers(self, folder: FolderSettings, path: Path, track: Track, now: float) -> Track:
        """A file only assumed open (it appeared in a new folder before the folder's watch),
        quiet for `settle`: ask the kernel whether anyone still has it open for writing."""
        when = ask_at(track, folder.settle)
        if when is None or when > now:
            return track
        local = self._local_roots.get(folder.path)
        if local is None:
            fstype = filesystem_type(folder.path)
            local = fstype is not None and not network_filesystem(fstype)
            self._local_roots[folder.path] = local
        answer = open_writers(folder.path, path, track.snap.ino) if local else "unknown"
        if answer == "refused" and not self._writers_refused_said:
            self._writers_refused_said = True  # every such file would say the same
            log.info(
                "faxd may not ask whether a file saved into a new folder is still being "
                "written (the file belongs to another user); such files wait up to "
                f"{APPEARED_CLOSE_WAIT:g} s of quiet",
                document=str(path),
                hint="to send them once they settle, give faxd CAP_LEASE (systemctl edit "
                "faxd: CapabilityBoundingSet=CAP_LEASE and AmbientCapabilities=CAP_LEASE)",
            )
        return answered(track, answer, now)

    def _process_due(self, stop: threading.Event | None) -> None:
        now = self._clock.time()
        # In batches: the watcher's events are looked at between them, also in a backlog.
        for _ in range(DUE_BATCH):
            if not self._heap or self._heap[0][0] > now or self._takers_busy():
                return
            if stop is not None and stop.is_set():
                return
            _, _, path = heapq.heappop(self._heap)
            track = self._tracks.get(path)
            folder = self._folder_of(path)
            if track is None or folder is None:
                continue
            try:
                st = path.lstat()
            except OSError:
                del self._tracks[path]
                continue
            if not stat.S_ISREG(st.st_mode):
                del self._tracks[path]  # swapped for a link, FIFO or folder: never followed
                log.info("not a regular file; ignored", document=str(path))
                continue
            track = observe(track, Snapshot(st.st_size, st.st_mtime, st.st_ino), now)
            track = self._ask_writers(folder, path, track, now)
            self._tracks[path] = track
            due = self._ready_time(folder, path, track)
            if due > now:
                self._push(path, self._next_look(folder, track, due))
                continue
            del self._tracks[path]
            presence = self._archiver.presence
            if presence.away(folder.path) or presence.remounted(folder.path):
                # Heard by a scan or a watch begun before the share went: what is at the
                # path now is the folder it leaves behind. Once the share is back, a rescan
                # finds its documents — and the scan that comes with the daemon's claim on
                # it, when it came back as another file system.
                continue
            self._dispatch(folder, path, track)
            now = self._clock.time()

    # -- attachments -------------------------------------------------------------------

    def _attachment_owner(self, path: Path) -> Path | None:
        """A sidecar in the same folder that names this file under `attach:`.

        Only sidecars the scans and the watcher reported are read (scans queue sidecars
        before documents), so the cost follows the sidecars, not the folder's size."""
        known = self._sidecars.get(path.parent)
        if not known:
            return None
        if sidecar_beside(path) is not None:
            # A file with a sidecar of its own is a document, never another's attachment:
            # two sidecars attaching each other's documents made both wait for ever.
            return None
        for sidecar in list(known):
            if sidecar.with_suffix("") == path:
                continue
            attach = self._attach_names(sidecar)
            if attach is None:
                known.discard(sidecar)
            elif path.name in attach:
                return sidecar.with_suffix("")
        return None

    def _attach_names(self, sidecar: Path) -> frozenset[str] | None:
        """The names a sidecar attaches (empty when unreadable); None when it is gone."""
        try:
            st = sidecar.lstat()
        except OSError:
            self._attach_cache.pop(sidecar, None)
            return None
        version = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._attach_cache.get(sidecar)
        if cached is not None and cached[0] == version:
            return cached[1]
        folder = self._folder_of(sidecar)
        try:
            if folder is None:
                raise FileNotFoundError(sidecar)
            data, _ = contained.read_beneath(
                folder.path, sidecar, SIDECAR_CAP, "sidecar", single_link=True
            )
            names = frozenset(parse_sidecar_bytes(data, sidecar.name).attach)
        except SidecarError as exc:
            names = frozenset(exc.attach)  # its document fails, and they go with it
        except (FaxdError, OSError, UnicodeDecodeError):
            names = frozenset()
        self._attach_cache[sidecar] = (version, names)
        return names
