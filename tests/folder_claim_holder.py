"""A folder claimed (FOLDER/.faxd.lock) by a real second process, as another faxd holds it:
POSIX locks are per process, so a claim in the test's own process would not be seen."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OTHER = "pid 4242 on fax1, state_dir /var/lib/other"

HOLDER = f"""
import sys
from pathlib import Path
from faxd.host.folder_claims import FolderClaims
claims = FolderClaims({OTHER!r})
assert claims.claim(Path(sys.argv[1])) is None
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def held_elsewhere(folder: Path) -> Iterator[None]:
    """`folder` claimed by another process until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.communicate("", timeout=30)
