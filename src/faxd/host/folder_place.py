"""Which file system a folder is on, and whether that is the one of the folder holding it.

A share that is not mounted leaves its mount point behind as an ordinary, empty folder on
the disk that holds it. Told apart from the share only by the file system (st_dev) it is
on, such a folder is on the same one as its parent; a folder with a file system mounted
on it is not."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FolderPlace:
    device: int  # st_dev of the folder
    parent_device: int  # st_dev of the folder holding it

    @property
    def mounted(self) -> bool:
        """A file system of its own is mounted on the folder (or its configured path is a
        link to a folder on another disk): not the bare mount point of a share away."""
        return self.device != self.parent_device

    def left_behind(self, known: int | None) -> bool:
        """On the file system of the folder holding it, while faxd `known` it on another:
        the bare mount point of a share that is not mounted (or the folder moved onto that
        disk, which only the admin can tell). A file system mounted on the folder is not:
        the share back, perhaps under another device number, or a new disk."""
        return known is not None and known != self.device and not self.mounted


def place_of(path: Path, *, follow: bool = True) -> FolderPlace | None:
    """Where the folder `path` is; None when it is missing or not a folder (with `follow`
    false, a link is not one: a link faxd does not follow says nothing of a file
    system)."""
    try:
        st = os.stat(path, follow_symlinks=follow)
        parent = os.stat(path.parent)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return FolderPlace(st.st_dev, parent.st_dev)
