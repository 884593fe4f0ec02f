"""Intake: from candidate paths to journaled jobs.

Candidates come from the watcher, the start-up scan and the periodic rescan. A path is
tracked until it is completely written (faxd.core.readiness: closed, where the watcher
heard it written, and still for `settle` seconds), and a sidecar had its chance to
arrive. Then its facts are gathered (copied into the job's work folder, sidecar read,
print file converted, files sampled: faxd.outbound.gathering), faxd.core.intake_decision
decides, and the job is recorded — or failed at once with a report when it has no valid
recipient or the provider would refuse it."""

from __future__ import annotations

import contextlib
import functools
import heapq
import os
import queue
import shutil
import stat
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import structlog

from faxd.clock import Clock
from faxd.config.sidecar import SidecarError, parse_sidecar_bytes
from faxd.core.intake_decision import Decision, IntakeFacts, decide
from faxd.core.io_errors import explain_os_error
from faxd.core.job_payload import NewJob
from faxd.core.names import is_ignored_name
from faxd.core.readiness import (
    Heard,
    Snapshot,
    Track,
    heard,
    observe,
    ready_at,
    still_writing,
)
from faxd.core.recipient_screen import Book
from faxd.crash_points import crash_point, hang_point
from faxd.errors import FaxdError
from faxd.host import contained, fsops
from faxd.notices.plan import job_notices
from faxd.outbound import gathering, new_version
from faxd.outbound.archive import Archiver
from faxd.outbound.claims import Claims
from faxd.outbound.gathering import SIDECAR_CAP, sidecar_beside
from faxd.outbound.intake_progress import IntakeProgress
from faxd.outbound.watcher import Change
from faxd.providers.base import Sender
from faxd.settings import FolderSettings, Settings
from faxd.store.journal import Journal, JournalWriteError
from faxd.store.outbox import NewDelivery

log = structlog.get_logger("faxd.outbound.intake")

SIDECAR_SUFFIXES = (".yaml", ".yml")
JOURNAL_RETRY = 10.0  # seconds before a document is taken again after a journal write failed
# A sidecar without its document for this long (seconds, past the folder's settle and
# sidecar_wait) is looked up: did its document fail before it came?
LATE_SIDECAR_AGE = 10.0
SCAN_TRACKED = 10  # scans are read while fewer files than this wait to be taken
DUE_BATCH = 200  # due files looked at before the next batch of watcher events
PARENT_CACHE = 10_000  # folders whose spool folder and skipping are remembered
TAKES_QUEUED = 2  # per taker thread: due documents handed over ahead of the takers
RETAKE_AFTER_ERROR = 30.0  # seconds until a document that tripped an error is looked at again
# seconds before a file at a name being taken right now is looked at again (at least)
TAKE_UNDER_WAY_WAIT = 0.25


@dataclass(frozen=True)
class _Retake:
    """A take that did not end in a job: look at the file again at `when`."""

    path: Path
    track: Track
    when: float


def new_job_id(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


class Intake:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        senders: Mapping[str, Sender],
        archiver: Archiver,
        clock: Clock,
        on_job: Callable[[], None],
        *,
        takers: int = 0,
    ) -> None:
        """takers: threads that take due documents (copy, check, journal) side by side, so
        one document's fsyncs and commit do not hold up the next; 0 takes them on the
        calling thread, one after the other."""
        self.changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
        self._journal = journal
        self._senders = senders
        self._archiver = archiver
        self._clock = clock
        self._on_job = on_job
        self._tracks: dict[Path, Track] = {}
        self._heap: list[tuple[float, int, Path]] = []
        self._seq = 0
        self._claims = Claims(journal.active_paths())
        self._pool = (
            ThreadPoolExecutor(takers, thread_name_prefix="faxd-take") if takers > 0 else None
        )
        self._max_in_flight = TAKES_QUEUED * takers
        self._in_flight = 0  # handed to the takers, outcome not yet back (intake thread only)
        self._takes: dict[Future[_Retake | None], Path] = {}  # handed over, not yet done
        self._takes_lock = threading.Lock()
        self._outcomes: queue.SimpleQueue[_Retake | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._last_rescan: dict[Path, float] = {}
        self._ignored_logged: set[Path] = set()
        self._missing_roots: set[Path] = set()
        # Sidecars seen per folder, and their `attach:` names per version: an attachment
        # check that lists the folder for every document is O(n²) with 10,000 files.
        self._sidecars: dict[Path, set[Path]] = {}
        self._attach_cache: dict[Path, tuple[tuple[int, int, int], frozenset[str]]] = {}
        # Paths taken (or being taken) whose writer was heard and not heard closing since.
        self._open_writers: set[str] = set()
        # Files at the names jobs hold, as they were when last looked at (None: not a
        # job's document), until the job is filed (_held_file_changed).
        self._held_seen: dict[str, contained.Identity | None] = {}
        self._unreadable_said: set[Path] = set()  # spool folders that could not be listed
        # Scans under way: a folder, its files still to look at, and what a scan of it says.
        self._scans: deque[tuple[Path, Iterator[Path], Heard]] = deque()
        self._late_checked: set[Path] = set()  # sidecars without a document, looked up
        self.progress = IntakeProgress(clock)
        self.configure(settings)

    # -- configuration -----------------------------------------------------------------

    def configure(self, settings: Settings) -> None:
        """(Re)load the folder list; tracks of removed folders are dropped."""
        with self._lock:
            self._settings = settings
            self._folders: dict[Path, FolderSettings] = {f.path: f for f in settings.folders}
            # Per parent folder: the spool folder and whether it is skipped. Asked for every
            # event and due file, trying each spool folder and each output tree was most
            # of the intake's CPU time with 50 spool folders.
            self._folder_by_parent: dict[Path, FolderSettings] = {}
            self._parent_skipped: dict[Path, bool] = {}
            excluded: set[Path] = set()
            for f in settings.folders:
                excluded.update({f.sent_dir, f.failed_dir, f.hold_folder})
            if settings.inbox is not None:
                excluded.add(settings.inbox.path)
                excluded.update(settings.inbox.routes.values())
            excluded.add(settings.state_dir)
            self._excluded = frozenset(excluded)
            self._book = Book.from_settings(settings)
            for path in [p for p in self._tracks if self._folder_of(p) is None]:
                del self._tracks[path]
            self._sidecar_roots = {
                f.path for f in settings.folders if self._journal.sidecars_seen(f.path)
            }

    def _folder_of(self, path: Path) -> FolderSettings | None:
        cached = self._folder_by_parent.get(path.parent)
        if cached is not None:
            return cached
        for root, folder in self._folders.items():
            if path.is_relative_to(root):
                if path != root and len(self._folder_by_parent) < PARENT_CACHE:
                    self._folder_by_parent[path.parent] = folder
                return folder
        return None

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

    # -- feeding -----------------------------------------------------------------------

    def scan(self, root: Path, *, first: bool = False) -> None:
        """Look at every file below root (start-up, rescans, new subfolders).

        The intake loop reads the scan lazily, a folder at a time, while fewer than
        SCAN_TRACKED files wait: a backlog of 100,000 files costs neither start-up time nor
        memory, and the watcher's events are handled between its batches. Sidecars come
        first in each folder, so every document is checked against all of its folder's
        sidecars (`_attachment_owner` looks nowhere else)."""
        files = fsops.iter_files(
            root, self.skip_dir, lambda n: n.endswith(SIDECAR_SUFFIXES), self._unreadable_folder
        )
        if first:  # a new subfolder: a few files, not to wait behind a backlog
            self._scans.appendleft((root, files, "appeared"))
        else:
            self._scans.append((root, files, "found"))
        self._last_rescan[root] = self._clock.monotonic()

    def _unreadable_folder(self, folder: Path, exc: OSError) -> None:
        """Said once per folder (a rescan meets it every few minutes): documents in a
        folder faxd may not list are never seen, and nothing else would say so."""
        if folder in self._unreadable_said:
            return
        self._unreadable_said.add(folder)
        log.warning(
            "a folder in the spool cannot be read; documents in it are not sent",
            folder=str(folder),
            error=explain_os_error(exc),
            hint="give faxd's user read and search access to it (chmod g+rx, group faxd)",
        )

    def scanning(self, root: Path | None = None) -> bool:
        """A scan (of root) is still being read."""
        return any(root is None or r == root for r, _, _ in list(self._scans))

    def _next_scanned(self) -> Change | None:
        while self._scans:
            root, files, what = self._scans[0]
            path = next(files, None)
            if path is not None:
                return Change(root, path, "file", what)
            self._scans.popleft()
        return None

    def _feed_scans(self, stop: threading.Event | None) -> None:
        for _ in range(500):
            if len(self._tracks) >= SCAN_TRACKED or (stop is not None and stop.is_set()):
                return
            change = self._next_scanned()
            if change is None:
                return
            self._handle_safely(change)

    def pending(self) -> int:
        return len(self._tracks) + self._in_flight

    # -- the loop ----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.step(stop)
        finally:
            self.close(wait=0)  # no new takes; the daemon waits for those under way

    def close(self, wait: float | None = None) -> list[Path]:
        """Stop taking, and wait for the takes under way: each ends in a job or in nothing,
        none is cut off. Takes not begun are dropped (their documents stay in the folder for
        the next start). `wait` bounds the wait, since a take blocked in a read of a share
        whose server went away never ends: the documents of takes still under way then are
        returned, left as a crash would leave them, for the next start to take."""
        if self._pool is None:
            return []
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._takes_lock:
            under_way = dict(self._takes)
        _, unfinished = futures.wait(under_way, timeout=wait)
        if unfinished:
            return sorted(under_way[f] for f in unfinished)
        self._pool.shutdown(wait=True)
        return []

    def step(self, stop: threading.Event | None = None, max_wait: float = 0.5) -> None:
        self.progress.turned()
        self._collect_outcomes()
        timeout = self._until_next_due(max_wait)
        try:
            change: Change | None = self.changes.get(timeout=timeout)
        except queue.Empty:
            change = None
        batch = 0
        while change is not None:
            if change.kind != "wake":
                self._handle_safely(change)
            batch += 1
            if batch >= 500 or (stop is not None and stop.is_set()):
                break
            try:
                change = self.changes.get_nowait()
            except queue.Empty:
                change = None
        self._collect_outcomes()
        self._feed_scans(stop)
        self._process_due(stop)
        self._rescan_if_due()

    def _takers_busy(self) -> bool:
        return self._pool is not None and self._in_flight >= self._max_in_flight

    def _until_next_due(self, max_wait: float) -> float:
        if self._scans and len(self._tracks) < SCAN_TRACKED:
            return 0.0  # a scan is waiting to be read
        if not self._heap or self._takers_busy():
            return max_wait  # a taker that ends wakes the loop
        return max(0.0, min(max_wait, self._heap[0][0] - self._clock.time()))

    def _rescan_if_due(self) -> None:
        now = self._clock.monotonic()
        for root, folder in list(self._folders.items()):
            last = self._last_rescan.get(root)
            if last is None or now - last >= folder.rescan_interval:
                if self.scanning(root):
                    continue  # the last scan is still being read (a large backlog)
                if not root.is_dir():
                    if root not in self._missing_roots:  # said once per outage
                        self._missing_roots.add(root)
                        log.warning(
                            "spool folder is missing; jobs are kept and it is rescanned later",
                            folder=str(root),
                        )
                    self._last_rescan[root] = now
                    continue
                if root in self._missing_roots:
                    self._missing_roots.discard(root)
                    log.info("spool folder is there again", folder=str(root))
                self.scan(root)

    def _push(self, path: Path, when: float) -> None:
        self._seq += 1
        # What is due already queues behind what became due before it: a backlog file,
        # due since its old mtime, must not overtake a document dropped while it is read.
        heapq.heappush(self._heap, (max(when, self._clock.time()), self._seq, path))

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
        self._push(path, self._ready_time(folder, path, track, look=path.parent in self._sidecars))

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
            self._tracks[path] = track
            due = self._ready_time(folder, path, track)
            if due > now:
                self._push(path, due)
                continue
            del self._tracks[path]
            self._dispatch(folder, path, track)
            now = self._clock.time()

    # -- deciding ----------------------------------------------------------------------

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

    def _dispatch(self, folder: FolderSettings, path: Path, track: Track) -> None:
        """Hand a due document to a taker (or take it here). The outcome comes back to this
        thread, which alone keeps the tracks."""
        try:
            owner = self._attachment_owner(path)
        except Exception:  # a bug must cost one document a retry, never the intake thread
            log.exception("could not take the document; it will be tried again", document=str(path))
            self._apply(_Retake(path, track, self._clock.time() + RETAKE_AFTER_ERROR))
            return
        if owner is not None and owner.exists():
            log.debug("attachment of another document; not sent on its own", document=str(path))
            return
        if not self._claims.reserve(str(path)):
            try:
                self._claimed_due(folder, path, track)
            except Exception:  # it stays where it is, and is taken once the name is free
                log.exception("could not look at a new version of a document", document=str(path))
            return
        if self._pool is None:
            self._apply(self._take_guarded(folder, path, track))
            return
        self._in_flight += 1
        future = self._pool.submit(self._take_guarded, folder, path, track)
        with self._takes_lock:
            self._takes[future] = path
        future.add_done_callback(functools.partial(self._taken, path, track))

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

    def _taken(self, path: Path, track: Track, future: Future[_Retake | None]) -> None:
        # On the taker's thread: an outcome always goes back (else its place among the
        # takes is never freed), and the intake loop wakes for it. Even a take whose
        # failure could not be reported (a closed log pipe) is tried again.
        with self._takes_lock:
            self._takes.pop(future, None)
        outcome: _Retake | None = None
        if not future.cancelled():
            failed = future.exception()
            outcome = (
                future.result()
                if failed is None
                else _Retake(path, track, self._clock.time() + RETAKE_AFTER_ERROR)
            )
        self._outcomes.put(outcome)
        self.changes.put(Change(Path(), Path(), "wake"))

    def _collect_outcomes(self) -> None:
        while True:
            try:
                outcome = self._outcomes.get_nowait()
            except queue.Empty:
                return
            self._in_flight -= 1
            self._apply(outcome)

    def _apply(self, outcome: _Retake | None) -> None:
        if outcome is not None:
            track = outcome.track
            if self._still_open(outcome.path):
                track = replace(track, unclosed=True)
            self._tracks[outcome.path] = track
            self._push(outcome.path, outcome.when)

    def _take_guarded(self, folder: FolderSettings, path: Path, track: Track) -> _Retake | None:
        """_take; a document that cannot be taken yet comes back to be looked at again, and
        an unforeseen error costs that document a retry, never the daemon."""
        self.progress.take_started(path)
        try:
            return self._take_or_retake(folder, path, track)
        finally:
            self.progress.take_ended(path)

    def _take_or_retake(self, folder: FolderSettings, path: Path, track: Track) -> _Retake | None:
        now = self._clock.time()
        try:
            hang_point("take", path.name)
            self._take(folder, path, track)
        except contained.ChangedError:
            # Written to while faxd copied it: it had not settled after all.
            return _Retake(path, Track(track.snap, now, track.first_seen), now + folder.settle)
        except contained.WorkFolderError as exc:
            log.warning("document not taken yet; trying again", document=str(path), error=str(exc))
            return _Retake(path, track, now + RETAKE_AFTER_ERROR)
        except JournalWriteError:
            # Said once by the journal (a full state disk); taken when it takes writes.
            return _Retake(path, track, now + JOURNAL_RETRY)
        except Exception:  # a bug must cost one document a retry, never the daemon
            log.exception("could not take the document; it will be tried again", document=str(path))
            return _Retake(path, track, now + RETAKE_AFTER_ERROR)
        return None

    def _take(self, folder: FolderSettings, path: Path, track: Track) -> None:
        """Take a document _dispatch reserved: gather, decide, journal. Its reservation (and
        its attachments') ends here, as held files when a job was journaled."""
        job_id = new_job_id(self._clock.time())
        reserved = [str(path)]
        try:
            facts = self.gather(folder, path, track.first_seen, job_id)
            reserved += [a for a in facts.attachments if a not in facts.claimed]
            job = self._decide(facts, folder).final
            event = ("held" if job.hold else "failed") if job.error else None
            now = self._clock.time()
            notices = job_notices(job.id, job.options.notice, event, now) if event else []
            crash_point("intake_before_journal")
            self._create(job, notices)
        except BaseException:
            self._claims.settle(reserved)
            # The work folder of a job that was never recorded belongs to nobody.
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
            raise
        self._claims.settle(
            reserved, {job.path, *([job.sidecar] if job.sidecar else []), *job.attachments}
        )
        bound = log.bind(job=job.id, document=job.rel_path, provider=job.provider)
        if job.error:
            what = "document held" if job.hold else "document refused before sending"
            bound.warning(what, error=job.error)
            stored = self._journal.job(job.id)
            if stored is not None and not self._archiver.try_archive(stored):
                return  # kept held, so not taken again; the daemon tries filing it later
            self.release(job.id)
        else:
            bound.info("document queued", recipients=list(job.numbers), rule=job.rule)
            self._on_job()

    def _create(self, job: NewJob, notices: list[NewDelivery]) -> None:
        try:
            self._journal.create_job(job, outbox=notices)
        except JournalWriteError:
            # The fsync after the commit failed, not the commit: the job stands, and the
            # engine will work on it. Taking the document again would make a second job
            # of it, sent twice; it keeps its files and copies like any other job.
            if self._journal.job(job.id) is None:
                raise

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

    def job_dir(self, job_id: str) -> Path:
        """The job's one work folder under state_dir: its copies of the spool files, a
        converted print file, and the provider's conversions. Removed once it is filed."""
        return self._settings.work_root / job_id

    def snapshot_dir(self, job_id: str) -> Path:
        """Where a job's copies of its spool files live until it is filed."""
        return self.job_dir(job_id) / "snap"

    def decide(
        self,
        folder: FolderSettings,
        path: Path,
        first_seen: float,
        job_id: str,
        *,
        guard: bool = True,
    ) -> Decision:
        """Gather the facts of a ready document, then decide (faxd.core.intake_decision).
        ChangedError: the document is being written to, it has not settled."""
        return self._decide(self.gather(folder, path, first_seen, job_id), folder, guard=guard)

    def _decide(
        self, facts: IntakeFacts, folder: FolderSettings, *, guard: bool = True
    ) -> Decision:
        # A copy first (one step under the GIL): a reload adds providers to the daemon's
        # mapping while takers decide, and a dict that grows under a loop stops it.
        limits = {name: sender.limits for name, sender in dict(self._senders).items()}
        return decide(
            facts,
            folder,
            self._settings,
            limits,
            self._book,
            self._journal.known_among,
            guard=guard,
        )

    def gather(
        self, folder: FolderSettings, path: Path, first_seen: float, job_id: str
    ) -> IntakeFacts:
        """The document's facts (faxd.outbound.gathering), its copies in the job's folder."""
        return gathering.gather(
            folder,
            path,
            job_id=job_id,
            work=self.job_dir(job_id),
            received_at=min(self._clock.time(), first_seen),
            claims=self._claims,
        )
