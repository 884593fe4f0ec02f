"""The work folder (state_dir/work) as a lock between the commands that make a job's work
folder there and a starting daemon's sweep of the work folders no job owns.

A daemon's start removes the work folders no unfiled job owns: copies a kill left behind.
`faxd send` and `faxd explain` make a work folder in a process of their own, and it is in
no journal yet while they copy into it, so a daemon starting at that moment removed it
under them (a `faxd send` then queued a job whose copies were gone). Such a command holds
a shared flock on the work folder from before it makes its own folder until its job is
journaled (or its folder removed); the sweep takes it exclusively, and while a command
holds it, the sweep waits for the next start. An flock on the folder itself, not on a
file beside it: whoever may make a folder in it may lock it, and there is no lock file
whose owner or mode could keep the daemon out."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def _open(work_root: Path) -> int:
    return os.open(work_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


@contextlib.contextmanager
def making_work(work_root: Path) -> Iterator[None]:
    """Held by a command while it makes its job's work folder and journals the job. Waits
    while a sweep runs (it removes only folders, briefly)."""
    try:
        work_root.mkdir(parents=True, exist_ok=True)
        fd = _open(work_root)
    except OSError:
        # Its work folder cannot be made either: the copy says why, in its own words.
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing drops the flock


@contextlib.contextmanager
def sweeping(work_root: Path) -> Iterator[bool]:
    """Held while the sweep lists, checks and removes work folders. Yields False, holding
    nothing, while a command is making a job there. FileNotFoundError: no work folder."""
    fd = _open(work_root)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
