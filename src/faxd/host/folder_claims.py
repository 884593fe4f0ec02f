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
from collections.abc import Callable
from pathlib import Path

from faxd.errors import ConfigProblem
from faxd.settings import Settings

CLAIM_NAME = ".faxd.lock"
_HELD = (errno.EAGAIN, errno.EACCES)  # what fcntl says when another process holds it


class FolderClaims:
    def __init__(self, owner: str) -> None:
        """`owner`: how another faxd names this one ("pid 42 on host fax1, state_dir …")."""
        self._owner = owner
        self._fds: dict[Path, int] = {}

    def held(self) -> set[Path]:
        return set(self._fds)

    def claim(self, folder: Path) -> str | None:
        """Take `folder` for this faxd. None when it is this faxd's now (or already was, or
        the folder cannot carry a lock at all: then faxd works it as it did without one);
        otherwise one sentence naming the faxd that works it."""
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
                    f"{folder} is worked by another faxd ({holder or 'owner unknown'}); two "
                    "would send every document in it twice."
                )
            return None  # a share without lock support (ENOLCK): as before
        data = self._owner.encode("utf-8", "backslashreplace") + b"\n"
        # Write before truncating, so a reader never sees an empty file while it is held.
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
        self._fds[folder] = fd
        return None

    def release(self, folder: Path) -> None:
        fd = self._fds.pop(folder, None)
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # the pid would point at whatever reuses it
        except OSError:
            pass  # the share went away: the lock goes with the descriptor all the same
        finally:
            os.close(fd)

    def release_all(self) -> None:
        for folder in list(self._fds):
            self.release(folder)


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
        if present(folder) and (refused := claims.claim(folder)) is not None:
            problems.append(ConfigProblem(key, refused))
    return problems
