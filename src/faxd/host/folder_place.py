"""Which file system a folder is on, below which mount point, and whether that still is
where faxd knew it.

A share that is not mounted leaves its mount point behind as an ordinary folder on the
disk that holds it, and the folders below it are gone (or are ordinary folders made
there by hand). Told apart only by its file system (st_dev), such a folder cannot be
told from the share back under another device number — NFS and CIFS shares get a new
one at each mount — when the share is mounted higher up than the folder (the NAS at
/srv/fax, the spool folder /srv/fax/out): both are on their parent's file system. So
faxd remembers, with the file system, the mount point of that file system (the folder's
mount root): the share back is mounted at that same folder again, while below a bare
mount point the folder is on a file system mounted higher up."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class KnownPlace:
    """Where faxd knew a folder: its file system, and that file system's mount point (None
    in a record from a faxd that did not keep it)."""

    device: int
    mount_root: Path | None = None


@dataclass(frozen=True)
class FolderPlace:
    device: int  # st_dev of the folder
    parent_device: int  # st_dev of the folder holding it
    path: Path
    follow: bool = True

    @property
    def mounted(self) -> bool:
        """A file system of its own is mounted on the folder (or its configured path is a
        link to a folder on another disk)."""
        return self.device != self.parent_device

    @cached_property
    def mount_root(self) -> Path | None:
        """The mount point of the file system the folder is on: itself, or the nearest
        folder above it with a file system mounted on it. Looked up when first asked (only
        when the folder's file system changed: it looks at every folder up the path), and
        None when the folder found then is not on `device` any more."""
        return mount_root_of(self.path, follow=self.follow, device=self.device)

    def news_to(self, known: KnownPlace | None) -> bool:
        """What faxd `known` of the folder is to be brought up to date: another file
        system, or on the same one a mount root it did not keep (or another: the mount
        moved). One that cannot be told now leaves the one kept as it is."""
        if known is None or known.device != self.device:
            return True
        return self.mount_root is not None and self.mount_root != known.mount_root

    def left_behind(self, known: KnownPlace | None) -> bool:
        """On another file system than faxd `known` it on, and below the mount point of a
        share that is not mounted: its mount root lies above the one faxd knew, which is a
        plain folder again (or the folder was moved onto that disk, which only the admin
        can tell). A file system mounted at the mount root faxd knew is not (the share
        back, perhaps under another device number), nor one mounted below it, on the
        folder itself (a new disk)."""
        if known is None or known.device == self.device:
            return False
        was, now = known.mount_root, self.mount_root
        if was is None or now is None:
            # Nothing else to go by: a folder on its parent's file system is the bare
            # mount point, as when the share is mounted on the folder itself.
            return not self.mounted
        return was != now and was.is_relative_to(now)

    def mounted_over(self, known: KnownPlace) -> bool:
        """A file system is mounted now between the folder and the one faxd knew it on (a
        share mounted after faxd took the folder as a plain one): what was saved into the
        folder before lies under that mount."""
        was, now = known.mount_root, self.mount_root
        if was is None or now is None:
            return known.device == self.parent_device
        return was != now and now.is_relative_to(was)


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
    return FolderPlace(st.st_dev, parent.st_dev, path, follow)


def mount_root_of(path: Path, *, follow: bool = True, device: int | None = None) -> Path | None:
    """The mount point of the file system the folder `path` is on: up its path, links
    resolved as it is opened, the first folder on another file system than the folder
    holding it (os.path.ismount). None when no folder is there, or one that is not on the
    file system `device` (a share mounted or unmounted since that was seen: a mount point
    and a device that do not belong together would be remembered).

    Not the longest mount point of the kernel's mount table: a folder bound onto itself
    is in that table, and is no file system of its own. systemd's ReadWritePaths= does
    that to a folder that is not a mount point when faxd starts (/srv/fax, in the unit
    faxd ships), so a share not mounted then would have its bare mount point taken for
    the share back under another device number."""
    try:
        here = Path(os.path.realpath(path if follow else path.parent, strict=True))
        if not follow:
            here /= path.name
        st = os.lstat(here)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or (device is not None and st.st_dev != device):
        return None
    while here != here.parent:
        try:
            up = os.lstat(here.parent)
        except OSError:
            return None
        if up.st_dev != st.st_dev:
            break
        here, st = here.parent, up
    return here
