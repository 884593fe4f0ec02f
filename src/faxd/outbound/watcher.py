"""Watch spool folders with watchdog and put candidate paths on a queue — nothing else
happens in the watcher's threads, so a slow decision can never stall inotify.

inotify where the kernel gives it; polling where it does not (network file systems,
where inotify sees nothing), when asked (`watch: poll`), or when inotify runs out of
watches."""

from __future__ import annotations

import errno
import logging
import os
import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.inotify_move_event_grouper import InotifyMoveEventGrouper
from watchdog.observers.polling import PollingObserver

from faxd.core.readiness import Heard
from faxd.settings import WatchMode

log = structlog.get_logger("faxd.outbound.watcher")

# watchdog holds an IN_MOVED_FROM this long to pair it with its IN_MOVED_TO, and every event
# queued behind it waits too: with its 0.5 s, a document filed out of the spool (a move out
# of the watched tree, never paired) delayed the next document's events by up to 0.5 s,
# which a short `settle` cannot hide. The kernel queues both halves of a rename together
# and watchdog reads them in one batch, so pairing needs far less than that.
MOVE_PAIRING = 0.05
InotifyMoveEventGrouper.delay = MOVE_PAIRING


class _StopRace(logging.Filter):
    """watchdog logs at error level when an event arrives while its emitter stops (at every
    stop or reload during filing): nothing is lost that a rescan would not find, and an
    error line at each stop would teach admins to ignore errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_StopRace())

# What _Handler acts on. Asked for by name, watchdog leaves IN_OPEN and IN_CLOSE_NOWRITE
# out of its inotify mask: faxd's own read of every document it copies raised both, each
# parsed, queued and thrown away, a tenth of the watcher's work in a burst. Neither says a
# writer is done, so neither may ever count as FileClosedEvent (IN_CLOSE_WRITE) does.
WANTED: list[type[FileSystemEvent]] = [
    DirCreatedEvent,
    DirMovedEvent,
    FileMovedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileAttribEvent,
]

NETWORK_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "davfs", "sshfs"}
)


@dataclass(frozen=True)
class Change:
    root: Path  # the spool folder the path belongs to
    path: Path
    kind: Literal["file", "dir", "wake"]  # wake: the intake loop has outcomes to collect
    heard: Heard = "touched"  # what prompted it: a write and a close weigh differently


def filesystem_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of the file system holding path, from /proc/self/mountinfo."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = os.path.realpath(path)
    best = ""
    best_type: str | None = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) < 5 or not right:
            continue
        mount_point = fields[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best = mount_point
            best_type = right.split()[0]
    return best_type


def network_filesystem(fstype: str) -> bool:
    """Writes on other machines (or in a FUSE process) happen out of this kernel's sight."""
    return fstype in NETWORK_FS or fstype.startswith("fuse")


def choose_mode(path: Path, wanted: WatchMode, mountinfo: str | None = None) -> str:
    if wanted != "auto":
        return wanted
    return "poll" if network_filesystem(filesystem_type(path, mountinfo) or "") else "inotify"


class _Handler(FileSystemEventHandler):
    def __init__(self, root: Path, out: queue.SimpleQueue[Change], *, closes: bool) -> None:
        """closes: the events tell writes from closes (inotify). A polling observer only
        compares listings: its "created" and "modified" say nothing of a writer."""
        self._root = root
        self._out = out
        self._closes = closes

    def _put(self, raw: bytes | str, kind: Literal["file", "dir"], heard: Heard) -> None:
        if not self._closes:
            heard = "touched"
        self._out.put(Change(self._root, Path(os.fsdecode(raw)), kind, heard))

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirCreatedEvent):
            self._put(event.src_path, "dir", "touched")
        elif isinstance(event, DirMovedEvent):
            self._put(event.dest_path, "dir", "touched")
        elif isinstance(event, FileMovedEvent):
            self._put(event.dest_path, "file", "closed")  # renamed into place whole
        elif isinstance(event, FileClosedEvent):
            self._put(event.src_path, "file", "closed")
        elif isinstance(event, FileModifiedEvent):
            self._put(event.src_path, "file", "written")
        elif isinstance(event, FileCreatedEvent):
            # Synthetic: found by watchdog's walk of a folder just created (or moved in),
            # written before its watch began, perhaps by a writer that still has it open.
            self._put(event.src_path, "file", "appeared" if event.is_synthetic else "created")
        elif isinstance(event, FileAttribEvent):
            self._put(event.src_path, "file", "touched")


def _reader_alive(emitter: Any) -> bool:
    """watchdog (6 and later) reads an inotify emitter's events in a thread of its own,
    which adds the watches of a new folder tree by recursion: a tree too deep ends that
    thread, and the folder's watching with it, while the emitter still looks alive."""
    reader = getattr(emitter, "_inotify_fd", None)
    return reader is None or not hasattr(reader, "is_alive") or bool(reader.is_alive())


class FolderWatcher:
    """One observer for one spool folder, recursive."""

    def __init__(
        self,
        root: Path,
        wanted: WatchMode,
        out: queue.SimpleQueue[Change],
        poll_interval: float = 1.0,
    ) -> None:
        self.root = root
        self.wanted = wanted
        self.mode = choose_mode(root, wanted)
        self._out = out
        self._poll_interval = poll_interval
        self._observer: Any = None

    def start(self) -> str:
        """Start watching; returns the mode: inotify, poll, or rescan (no watch at all:
        the intake's periodic rescan finds what arrives)."""
        try:
            try:
                self._start(self.mode)
            except OSError as exc:
                if self.mode != "inotify" or exc.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                log.error(
                    "inotify limit reached; watching this folder by polling instead",
                    folder=str(self.root),
                    hint="raise fs.inotify.max_user_watches / fs.inotify.max_user_instances "
                    "with sysctl (e.g. sysctl -w fs.inotify.max_user_watches=524288)",
                )
                self.mode = "poll"
                self._start("poll")
        except RecursionError:
            # watchdog adds its watches (and takes its polling snapshots) by recursion: a
            # tree about a thousand folders deep, which anyone who may write in the spool
            # can make, would end faxd at every start.
            self._rescan_only("a folder below it is nested too deep to be watched")
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            self._rescan_only("a folder below it has a path too long to be watched")
        return self.mode

    def _rescan_only(self, why: str) -> None:
        self._observer = None
        self.mode = "rescan"
        log.error(
            f"{why}; documents in this folder are found at each rescan only",
            folder=str(self.root),
            hint="remove or flatten the deeply nested folders, then restart faxd",
        )

    def _start(self, mode: str) -> None:
        observer: Any
        observer = PollingObserver(timeout=self._poll_interval) if mode == "poll" else Observer()
        observer.daemon = True
        observer.schedule(
            _Handler(self.root, self._out, closes=mode != "poll"),
            str(self.root),
            recursive=True,
            event_filter=WANTED,
        )
        observer.start()
        self._observer = observer

    def alive(self) -> bool:
        """The observer and its emitters run: watchdog stops an emitter (not the observer)
        when the watched folder vanishes or the emitter fails."""
        if self.mode == "rescan":
            return True  # nothing to run: the intake's rescans do the finding
        observer = self._observer
        if observer is None or not observer.is_alive():
            return False
        return all(emitter.is_alive() and _reader_alive(emitter) for emitter in observer.emitters)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
