"""Who handed a document in: the `{owner}` of its notices (faxd.core.notice_plan)."""

from __future__ import annotations

import pwd
from pathlib import Path


def file_owner(path: Path) -> str | None:
    """The Unix user owning the file (the person who saved or copied it), if known.

    Not the overflow user ("nobody"): it is what a file's owner looks like from inside a
    user namespace that does not map it (systemd's PrivateUsers=), and mailing
    nobody@example.com would reach no one who dropped anything."""
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
