"""Whether anyone has a file open for writing, asked of the kernel.

A file written into a folder before faxd's watch of that folder began (its writer made
the folder and saved into it at once) may have been closed before the watch, and then no
close is ever heard. The kernel knows: it grants a read lease (fcntl(2) F_SETLEASE with
F_RDLCK) only while no process has the file open for writing, and refuses with EAGAIN
while one has, whoever and however (a scanner's share, an mmap). faxd takes the lease and
gives it back at once; it only ever asks.

Held, a read lease makes another process's open for writing wait until the holder lets
go (up to /proc/sys/fs/lease-break-time, 45 s), and the kernel tells the holder with
SIGIO, whose default action ends the process. So nothing happens between taking and
giving back but the two calls (a writer that opens the file in that moment waits that
long, no more), and the file is told to signal SIGURG instead, which a process ignores
unless it asks for it.

The kernel answers only for files faxd's user owns, or with CAP_LEASE ("refused"
otherwise), and on a network file system it sees only the writers of this machine, or
refuses with EAGAIN whenever the server has not delegated the file: the caller asks only
where the spool folder is on a local file system, and a file on another file system than
its spool folder (a share mounted inside it) is "unknown"."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
from pathlib import Path

from faxd.core.readiness import Writers
from faxd.errors import FaxdError
from faxd.host import contained

_REFUSED = (errno.EACCES, errno.EPERM)


def open_writers(root: Path, path: Path, ino: int) -> Writers:
    """Whether anyone has the regular file `path` below the spool folder `root` open for
    writing; `ino`: the file faxd looked at (another file at that name is "unknown")."""
    try:
        # Never through a link; O_NONBLOCK: a file someone holds a write lease on (Samba's
        # kernel oplocks) is refused at once (EWOULDBLOCK), not waited for.
        fd = contained.open_beneath(root, path, single_link=False)
    except (OSError, FaxdError):
        return "unknown"
    try:
        st = os.fstat(fd)
        if st.st_ino != ino or st.st_dev != os.stat(root).st_dev:
            return "unknown"
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        try:
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return "writing"
            return "refused" if exc.errno in _REFUSED else "unknown"
        with contextlib.suppress(OSError):  # the close below lets go as well
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return "none"
    except OSError:
        return "unknown"
    finally:
        os.close(fd)
