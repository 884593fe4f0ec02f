"""Who handed a document in: the `{owner}` of its notices (faxd.core.notice_plan)."""

from __future__ import annotations

import pwd
from pathlib import Path


def file_owner(path: Path) -> str | None:
    """The Unix user owning the file (the person who saved or copied it), if known."""
    try:
        uid = path.stat().st_uid
        return pwd.getpwuid(uid).pw_name
    except (OSError, KeyError):
        return None
