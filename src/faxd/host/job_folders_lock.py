"""A folder of job folders (state_dir/work, state_dir/outbox) as a lock between the
commands that make a job's folder there and a starting daemon's sweep of the ones no job
needs.

A daemon's start removes the job folders no job needs: copies a kill left behind. `faxd
send` (its outbox folder and its work folder) and `faxd explain` (a work folder) make
theirs in a process of their own, and they are in no journal yet while the command copies
into them, so a daemon starting at that moment removed one under them (a `faxd send` then
queued a job whose copies were gone). Such a command holds a shared flock on the folder
it makes its own in, from before it makes it until its job is journaled (or its folder
removed); the sweep takes it exclusively, and while a command holds it, the sweep waits
for the next start. An flock on the folder itself, not on a file beside it: whoever may
make a folder in it may lock it, and there is no lock file whose owner or mode could keep
the daemon out."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


def _open(root: Path) -> int:
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


@contextlib.contextmanager
def making_in(root: Path) -> Iterator[None]:
    """Held by a command while it makes its job's folder in `root` and journals the job.
    Waits while a sweep runs (it removes only folders, briefly)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = _open(root)
    except OSError:
        # Its job's folder cannot be made either: making it says why, in its own words.
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def sweep_unless_making(root: Path, sweep: Callable[[], int]) -> int | None:
    """`sweep()` run while holding `root` exclusively: how many job folders it removed (0
    when there is no such folder), or None, having swept nothing, while a command is
    making a job's folder there."""
    try:
        fd = _open(root)
    except FileNotFoundError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        try:
            return sweep()
        except FileNotFoundError:
            return 0  # the folder went meanwhile: nothing left to sweep
    finally:
        os.close(fd)
