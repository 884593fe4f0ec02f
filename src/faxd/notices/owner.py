"""Who handed a document in: the `{owner}` of its notices (faxd.core.notice_plan)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

# Set by faxd's CUPS backend (cups/faxd): the job's user, on a file that lp owns.
OWNER_XATTR = "user.faxd.owner"


def file_owner(path: Path) -> str | None:
    """Who handed the file in: the CUPS job's user the faxd backend marked it with, else
    the Unix user owning it (the person who saved or copied it), if known.

    Not the overflow user ("nobody"): it is what a file's owner looks like from inside a
    user namespace that does not map it (systemd's PrivateUsers=), and mailing
    nobody@example.com would reach no one who dropped anything."""
    try:
        marked = os.getxattr(path, OWNER_XATTR, follow_symlinks=False)
    except OSError:
        marked = b""
    if marked:
        return marked.decode("utf-8", "replace")
    try:
        uid = path.stat().st_uid
        if uid == _overflow_uid():
            return None
        return pwd.getpwuid(uid).pw_name
    except (OSError, KeyError):
        return None


def _overflow_uid() -> int:
    try:
        return int(Path("/proc/sys/kernel/overflowuid").read_text().strip())
    except (OSError, ValueError):
        return 65534
