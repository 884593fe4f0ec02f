"""A journal as a process killed in the middle of an SQLite write leaves it: pages of the
transaction already in the file, and the hot rollback journal that undoes them beside it.
A faxd killed while it creates its journal (before its first commit in WAL mode), or at
any commit on a file system without WAL, leaves one. The process really dies mid-write;
no byte is forged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_KILLED_MID_WRITE = """
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode = DELETE")
# A one-page cache spills the transaction's pages into the file before any commit.
db.execute("PRAGMA cache_size = 1")
db.execute("BEGIN")
db.execute("CREATE TABLE unfinished(x)")
db.executemany("INSERT INTO unfinished VALUES (?)", [(b"x" * 3000,)] * 50)
os._exit(0)
"""


def leave_unfinished_write(path: Path) -> Path:
    """The hot journal left beside `path` (which may not exist yet)."""
    subprocess.run([sys.executable, "-c", _KILLED_MID_WRITE, str(path)], check=True, timeout=60)
    hot = path.with_name(path.name + "-journal")
    assert hot.stat().st_size > 0 and path.stat().st_size > 0
    return hot
