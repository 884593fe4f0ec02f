"""When is a file completely written? Pure decisions from stat snapshots, what the watcher
heard, and time.

A file is ready once nothing about it changed for `settle` seconds: no event from the
watcher and no change in size, mtime or inode between two looks. Where inotify reports
writes and closes, a file the watcher saw being written must also have been closed (or
moved into place) since its last write: a scanner that keeps a multi-page scan open while
the next page is placed is quiet for longer than `settle`, and is not done. Files found by
a scan and polled folders have no word of closes and keep the quiet rule, except a file
that appeared in a folder created a moment ago: its writer may have opened it before the
folder was watched, and closed it before then too, so no close may ever come. Once it has
been quiet for `settle` the kernel is asked whether anyone has it open for writing
(faxd.host.writers): nobody, and it is ready; someone, and it waits for the close (asked
again every ASK_AGAIN, where no close is heard); no answer, and it waits for a close at
most APPEARED_CLOSE_WAIT of quiet. Files found at start-up whose mtime is already old are
ready at once; a file that keeps growing never is."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

# What prompted a look at the file: the watcher heard it created, written, closed after a
# write (or moved into place), or touched otherwise (a change of attributes, any event of a
# polled folder); or a scan found it, which says nothing about writers; or the scan of a
# folder just created found it ("appeared"): written before its folder was watched, its
# writer may still have it open.
Heard = Literal["created", "written", "closed", "touched", "found", "appeared"]
# How long a file that appeared in a new folder, and was heard of no more, waits for a
# close when the kernel cannot say whether it is still open: it may have been closed
# before the watch began, and no close will come then.
APPEARED_CLOSE_WAIT = 30.0
# What the kernel says of the writers of a file only assumed open (faxd.host.writers):
# "none", nobody has it open for writing; "writing", someone has; "unknown", it cannot tell
# (a network file system, a file replaced meanwhile); "refused", it would not say (the
# file belongs to another user and faxd lacks CAP_LEASE).
Writers = Literal["none", "writing", "unknown", "refused"]
# Seconds between questions while the kernel says a writer has the file open: where
# inotify watches, the close is heard sooner; in a polled folder the next answer finds it.
ASK_AGAIN = 1.0


@dataclass(frozen=True)
class Snapshot:
    size: int
    mtime: float
    ino: int


@dataclass(frozen=True)
class Track:
    snap: Snapshot
    changed_at: float  # wall time of the last change seen
    first_seen: float  # wall time faxd first saw the file
    unclosed: bool = False  # the watcher heard a write and no close after it
    # Not heard, assumed: it appeared in a new folder before the watch (ask_at).
    assumed_open: bool = False
    # The watcher heard it closed after a write, or moved in; or the kernel said nobody
    # has it open for writing.
    closed_seen: bool = False
    writers: Writers | None = None  # what the kernel said of an assumed-open file's writers
    asked_at: float = 0.0  # and when


def observe(track: Track | None, snap: Snapshot, now: float) -> Track:
    """Fold a new look at the file into its track."""
    if track is None:
        # A file untouched since before we looked has been still since its mtime.
        return Track(snap=snap, changed_at=min(now, snap.mtime), first_seen=now)
    if snap != track.snap:
        return replace(track, snap=snap, changed_at=now)
    return track


def touched(track: Track, now: float) -> Track:
    """The watcher reported activity on the file (a write, a close, a move)."""
    return replace(track, changed_at=max(track.changed_at, now))


def heard(track: Track | None, snap: Snapshot, what: Heard, now: float) -> Track:
    """Fold a look at the file, and what prompted it, into its track."""
    known = track is not None
    track = observe(track, snap, now)
    if what == "found":
        return track  # a scan's look counts only for what it saw change
    if what == "appeared":
        if track.closed_seen or track.unclosed:
            return track  # the watcher's word on its writer is better
        return replace(track, unclosed=True, assumed_open=True)
    if known:
        track = touched(track, now)
    if what == "created" and snap.size > 0 and track.assumed_open:
        # Created with content says "moved in whole" or "being written"; for a file that
        # appeared before its folder's watch it is no word of a close.
        return track
    writing = still_writing(what, snap.size)
    if writing is None:
        return track
    closed = track.closed_seen or what == "closed"
    return replace(track, unclosed=writing, assumed_open=False, closed_seen=closed)


def still_writing(what: Heard, size: int) -> bool | None:
    """What an event says of the file's writer: True while it has yet to close the file,
    False once it is done, None when the event says nothing of writers.

    Created empty, its writer has yet to write and close it. Created with content, it was
    moved or linked in whole (watchdog reports a move from outside the folder, and the
    files of a folder moved in, as created), or it is being written, and the write events
    queued behind this one say so."""
    if what == "written":
        return True
    if what == "created":
        return size == 0
    if what == "closed":
        return False
    return None


def ask_at(track: Track, settle: float) -> float | None:
    """When to ask the kernel whether a file only assumed open is still open for writing:
    once it has been quiet for `settle`, again while a writer has it, never once the kernel
    could not tell (None)."""
    if not track.assumed_open:
        return None
    if track.writers is None:
        return track.changed_at + settle
    if track.writers == "writing":
        return track.asked_at + ASK_AGAIN
    return None


def answered(track: Track, writers: Writers, now: float) -> Track:
    """Fold the kernel's answer about a file only assumed open into its track."""
    if writers == "none":
        # As good as a close heard: a writer that opens it again from now on is heard, the
        # watch having begun before the question.
        return replace(track, unclosed=False, assumed_open=False, closed_seen=True)
    return replace(track, writers=writers, asked_at=now)


def arrival(track: Track) -> float:
    """When the file came: for a file written long ago, its mtime; else when we saw it."""
    return min(track.first_seen, track.snap.mtime)


def ready_at(
    track: Track,
    settle: float,
    sidecar_wait: float,
    has_sidecar: bool,
    *,
    close_wait: float,
) -> float:
    """The earliest wall time the document may be addressed and queued.

    A file heard written and not closed waits `close_wait` of quiet instead of `settle`: a
    close the watcher missed (its queue overflowed) must not hold the file forever; so
    does one only assumed open (it appeared in a new folder) that the kernel said a writer
    has open. One assumed open that the kernel has not answered for yet, or could not,
    waits at most APPEARED_CLOSE_WAIT (the answer comes at ask_at, far sooner). Without a
    sidecar yet, one may still come up to `sidecar_wait` after the document."""
    if track.assumed_open and track.writers != "writing":
        close_wait = min(close_wait, APPEARED_CLOSE_WAIT)
    settled = track.changed_at + (max(settle, close_wait) if track.unclosed else settle)
    if has_sidecar:
        return settled
    return max(settled, arrival(track) + sidecar_wait)
