"""One faxd per spool folder and inbox, whatever its state directory.

The instance lock (`lock.py`) keeps two faxd off one state directory, not off one folder:
a second faxd with a state directory of its own (a test instance started with a copied
configuration, a second server mounting the same share) copied every document the first
one was copying, and both sent it. Each faxd therefore holds a POSIX lock on
`FOLDER/.faxd.lock` for every folder it takes documents from or delivers received ones
into. POSIX locks (not flock) are what NFS and SMB carry to their server, so a faxd on
another machine that mounts the same share sees the lock too. The kernel (or the file
server) drops a lock when its holder dies; the file stays, with the holder's words in it.

The name starts with a dot: the intake never takes it, and Samba hides it by default.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from faxd.errors import ConfigProblem
from faxd.settings import Settings

CLAIM_NAME = ".faxd.lock"
_HELD = (errno.EAGAIN, errno.EACCES)  # what fcntl says when another process holds it
SENT_TWICE = "two would send every document in it twice"
DELIVERED_TWICE = "two would deliver every received document into it twice"


class FolderClaims:
    def __init__(self, owner: str) -> None:
        """`owner`: how another faxd names this one ("pid 42 on host fax1, state_dir …")."""
        self._owner = owner
        self._fds: dict[Path, int] = {}
        self._devices: dict[Path, int] = {}  # the file system each claim was taken on
        self._lock = threading.Lock()  # the two dicts
        # The daemon's main thread claims spool folders, the inbox poller its inbox. One
        # folder claimed twice at once would leave a descriptor whose close drops the
        # lock; a lock per folder, so a claim hanging on one share holds up no other.
        self._guards: dict[Path, threading.Lock] = {}

    def held(self) -> set[Path]:
        with self._lock:
            return set(self._fds)

    def device_of(self, folder: Path) -> int | None:
        """The file system this faxd's claim on `folder` was taken on (None: none held).
        Asks nothing of the disk, where a share that went away may hang."""
        with self._lock:
            return self._devices.get(folder)

    def claim(self, folder: Path, consequence: str = SENT_TWICE) -> str | None:
        """Take `folder` for this faxd. None when it is this faxd's now (or already was, or
        the folder cannot carry a lock at all: then faxd works it as it did without one);
        otherwise one sentence naming the faxd that works it, and `consequence`."""
        with self._guard(folder):
            return self._claim(folder, consequence)

    def _claim(self, folder: Path, consequence: str) -> str | None:
        if folder in self._fds:
            return None
        path = folder / CLAIM_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o660)
        except OSError:
            return None  # no lock file possible here: faxd goes on as it did without one
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            # A hard link to another file (faxd's journal, say): never written or cut.
            os.close(fd)
            return None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_owner(fd)
            os.close(fd)
            if exc.errno in _HELD:
                return (
                    f"{folder} is worked by another faxd ({holder or 'owner unknown'}); "
                    f"{consequence}."
                )
            return None  # a share without lock support (ENOLCK): as before
        data = self._owner.encode("utf-8", "backslashreplace") + b"\n"
        # Write before truncating, so a reader never sees an empty file while it is held.
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        with self._lock:
            self._fds[folder] = fd
            self._devices[folder] = st.st_dev
        return None

    def release(self, folder: Path) -> None:
        with self._guard(folder):
            self._release(folder)

    def _release(self, folder: Path) -> None:
        with self._lock:
            fd = self._fds.pop(folder, None)
            self._devices.pop(folder, None)
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # the pid would point at whatever reuses it
        except OSError:
            pass  # the share went away: the lock goes with the descriptor all the same
        finally:
            os.close(fd)

    def release_all(self) -> None:
        # Not behind the folders' guards: at a stop, a claim hanging on a share that went
        # away must not keep the others' locks (and the stop) waiting.
        for folder in self.held():
            self._release(folder)

    def _guard(self, folder: Path) -> threading.Lock:
        with self._lock:
            return self._guards.setdefault(folder, threading.Lock())


def _read_owner(fd: int) -> str | None:
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        return None
    return text or None


def configured_folders(settings: Settings) -> list[tuple[str, Path]]:
    """The folders a faxd with `settings` works, each with its configuration key: the
    spool folders it takes documents from, and the inbox it delivers received ones to."""
    found = [(f"folders[{i}].path", folder.path) for i, folder in enumerate(settings.folders)]
    if settings.inbox is not None:
        found.append(("inbox.path", settings.inbox.path))
    return found


def claim_configured(
    claims: FolderClaims, settings: Settings, present: Callable[[Path], bool] = Path.is_dir
) -> list[ConfigProblem]:
    """Claim every configured folder that is `present` (one created later is claimed when
    it is; nothing is written onto the bare mount point of a share that is not mounted);
    a folder another faxd works is a configuration problem."""
    problems = []
    for key, folder in configured_folders(settings):
        consequence = DELIVERED_TWICE if key == "inbox.path" else SENT_TWICE
        if present(folder) and (refused := claims.claim(folder, consequence)) is not None:
            problems.append(ConfigProblem(key, refused))
    return problems
