"""Intake: from candidate paths to journaled jobs.

Candidates come from the watcher, the start-up scan and the periodic rescan. A path is
tracked until it is completely written (faxd.core.readiness: closed, where the watcher
heard it written, and still for `settle` seconds), and a sidecar had its chance to
arrive. Then its facts are gathered (copied into the job's work folder, sidecar read,
print file converted, files sampled: faxd.outbound.gathering), faxd.core.intake_decision
decides, and the job is recorded — or failed at once with a report when it has no valid
recipient or the provider would refuse it.

The intake thread runs the loop here and alone keeps the tracks; the parts are mixed into
Intake: intake_tracking (changes, readiness, sidecars and attachments), intake_take (the
takes, on taker threads) and intake_held (skipped names, files at the names jobs hold)."""

from __future__ import annotations

import heapq
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import structlog

from faxd.clock import Clock
from faxd.core.io_errors import explain_os_error
from faxd.core.readiness import Heard, Track
from faxd.core.recipient_screen import Book
from faxd.host import contained, fsops
from faxd.outbound.archive import Archiver
from faxd.outbound.claims import Claims
from faxd.outbound.intake_held import PARENT_CACHE, IntakeHeld
from faxd.outbound.intake_progress import IntakeProgress
from faxd.outbound.intake_take import IntakeTake, Retake
from faxd.outbound.intake_tracking import SIDECAR_SUFFIXES, IntakeTracking
from faxd.outbound.watcher import Change
from faxd.providers.base import Sender
from faxd.settings import FolderSettings, Settings
from faxd.store.journal import Journal

log = structlog.get_logger("faxd.outbound.intake")

SCAN_TRACKED = 10  # scans are read while fewer files than this wait to be taken
TAKES_QUEUED = 2  # per taker thread: due documents handed over ahead of the takers


class Intake(IntakeTracking, IntakeTake, IntakeHeld):
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
        self._takes: dict[Future[Retake | None], Path] = {}  # handed over, not yet done
        self._takes_lock = threading.Lock()
        self._outcomes: queue.SimpleQueue[Retake | None] = queue.SimpleQueue()
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
        self._writers_refused_said = False
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
            # Per spool folder: on a local file system, where the kernel knows every writer.
            self._local_roots: dict[Path, bool] = {}
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
                if self._archiver.presence.away(root):
                    if root not in self._missing_roots:  # said once per outage
                        self._missing_roots.add(root)
                        self._say_away(root)
                    self._last_rescan[root] = now
                    continue
                if root in self._missing_roots:
                    self._missing_roots.discard(root)
                    log.info("spool folder is there again", folder=str(root))
                self.scan(root)

    def _say_away(self, root: Path) -> None:
        if not root.is_dir():
            log.warning(
                "spool folder is missing; jobs are kept and it is rescanned later",
                folder=str(root),
            )
            return
        # Listed, its documents would be taken from the folder the share leaves behind,
        # and lie hidden under the share once it is mounted again.
        log.warning(
            "spool folder is not on the file system faxd took documents from but on the "
            "disk holding it (the bare mount point of a share that is not mounted?); "
            "nothing is taken from it until the share is back, and jobs are kept",
            folder=str(root),
        )

    def _push(self, path: Path, when: float) -> None:
        self._seq += 1
        # What is due already queues behind what became due before it: a backlog file,
        # due since its old mtime, must not overtake a document dropped while it is read.
        heapq.heappush(self._heap, (max(when, self._clock.time()), self._seq, path))
