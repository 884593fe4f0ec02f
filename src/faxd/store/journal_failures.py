"""How a journal write fails: JournalWriteError, and which of SQLite's errors are the
disk's rather than the statement's (faxd.store.journal says those once and waits them out)."""

from __future__ import annotations

import sqlite3

from faxd.errors import FaxdError


class JournalWriteError(FaxdError):
    """The journal could not be written (a full or failing disk, lost permissions). Not a
    bug: the write is tried again once the journal takes writes again."""


# SQLite's primary result codes that mean the disk, not the statement, is the problem.
_WRITE_FAILURES = frozenset(
    {
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        # Held by another program past busy_timeout (an sqlite3 shell, a backup tool):
        # waited out like a full disk, never the end of the daemon.
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    }
)
LOCKED = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def is_write_failure(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _WRITE_FAILURES
