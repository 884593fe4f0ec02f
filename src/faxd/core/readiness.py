"""When is a file completely written? Pure decisions from stat snapshots and time.

A file is ready once nothing about it changed for `settle` seconds: no event from the
watcher and no change in size, mtime or inode between two looks. Files found at start-up
whose mtime is already old are ready at once; a file that keeps growing never is."""

from __future__ import annotations

from dataclasses import dataclass, replace


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


def arrival(track: Track) -> float:
    """When the file came: for a file written long ago, its mtime; else when we saw it."""
    return min(track.first_seen, track.snap.mtime)


def ready_at(track: Track, settle: float, sidecar_wait: float, has_sidecar: bool) -> float:
    """The earliest wall time the document may be addressed and queued.

    Without a sidecar yet, one may still come up to `sidecar_wait` after the document."""
    settled = track.changed_at + settle
    if has_sidecar:
        return settled
    return max(settled, arrival(track) + sidecar_wait)
