"""Creating the folders the configuration names, at start-up. Only one level: the
configuration check refuses a folder whose parent is missing too (an unmounted share
must not get a fresh tree under its bare mount point)."""

from __future__ import annotations

from pathlib import Path

# Group-writable (the unit's UMask=0007 applies), as scripts/install.sh makes them:
# office users drop files here.
FOLDER_MODE = 0o770


def create_if_missing(path: Path) -> bool:
    """Create `path` when it is missing and its parent is there; True when it was made."""
    if path.is_dir() or not path.parent.is_dir():
        return False
    try:
        path.mkdir(mode=FOLDER_MODE)
    except FileExistsError:
        return False
    return True


def nearest_existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that is there: where the rest would be made.
    A link to nowhere counts as missing, as it does for create_if_missing. Raises
    PermissionError when a folder on the way cannot be looked into."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")
