"""Shares mounted and unmounted without root: what faxd asks of a folder's place (its
st_dev, the mount point of its mount) answered as if a file system were mounted on some
folders. tests/e2e/ mounts real ones."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from faxd.host import folder_place


class Mounts:
    """Which folders have a share mounted on them: os.stat answers for such a folder, and
    for everything below it, with the share's file system, and a folder below it is on the
    mount at that folder. Unmounted, the folder and what is below it (made there by hand)
    are on the file system, and the mount, of the folder holding it, as a bare mount point
    is."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.shares: dict[Path, int] = {}
        real_stat = os.stat
        real_mount_root = folder_place.mount_root_of

        def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            st = real_stat(path, *args, **kwargs)
            if isinstance(path, int):
                return st
            point = self._point_of(Path(os.fsdecode(path)))
            if point is None:
                return st
            return os.stat_result((st.st_mode, st.st_ino, self.shares[point], *tuple(st)[3:]))

        def mount_root_of(
            path: Path, *, follow: bool = True, device: int | None = None
        ) -> Path | None:
            found = real_mount_root(path, follow=follow)
            return found if found is None else self._point_of(path) or found

        monkeypatch.setattr(os, "stat", stat)
        monkeypatch.setattr(folder_place, "mount_root_of", mount_root_of)

    def mount(self, folder: Path, device: int = 0x7E57) -> None:
        self.shares[folder] = device

    def umount(self, folder: Path) -> None:
        del self.shares[folder]

    def _point_of(self, path: Path) -> Path | None:
        """The nearest folder at or above `path` with a share mounted on it."""
        found = [p for p in self.shares if path.is_relative_to(p)]
        return max(found, key=lambda p: len(p.parts)) if found else None
