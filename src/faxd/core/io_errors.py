"""One sentence, saying what to do, for an operating-system error on a file: reports and
log lines never show a raw "[Errno 13] Permission denied: '…'"."""

from __future__ import annotations

import errno
from pathlib import PurePath

_ADVICE = {
    errno.EACCES: "faxd's user may not use it (permission denied); give the faxd group "
    "access to it and to its folder",
    errno.EPERM: "faxd's user may not use it (operation not permitted); give the faxd "
    "group access to it and to its folder",
    errno.EISDIR: "it is a folder, not a file; name a file",
    errno.ENOTDIR: "a part of its path is a file, not a folder; correct the path",
    errno.ENOENT: "it does not exist (any more); check the name and the folder",
    errno.ENAMETOOLONG: "the name is too long for the file system; shorten it",
    # Also what a file system out of inodes says, with blocks still free in `df`.
    errno.ENOSPC: "the disk is full (out of space, or of inodes: see df -i); free some space",
    errno.EDQUOT: "the disk quota of faxd's user is used up; free some space",
    errno.EROFS: "the file system is read-only; remount it read-write",
    errno.ELOOP: "it is a symbolic link, which faxd never follows; use the file itself",
    errno.EIO: "the disk or network share reported an input/output error; check it",
    errno.ESTALE: "the network share went away (stale file handle); remount it",
    errno.EXDEV: "it is on another file system; keep the folders on one file system",
}


def explain_os_error(exc: OSError, name: str | None = None) -> str:
    """ "invoice.pdf: faxd's user may not use it (permission denied); give … ." for an
    OSError; `name` defaults to the last part of the path the error names."""
    if name is None:
        where = exc.filename if exc.filename is not None else ""
        name = PurePath(str(where)).name if where else ""
    advice = _ADVICE.get(exc.errno or 0)
    if advice is None:
        what = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
        advice = f"{what[:1].lower()}{what[1:]}; check the file and its folder"
    return f"{name}: {advice}." if name else f"{advice[:1].upper()}{advice[1:]}."
