"""File systems of their own for tests that need real mounts (a tmpfs standing in for a
NAS share, bound where a client would mount it). Mounting needs root; every mount is
undone at the end, lazily, since a test that failed may still hold a file there."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class RealMounts:
    def __init__(self) -> None:
        self.targets: list[Path] = []

    def tmpfs(self, path: Path, size: str = "8m") -> Path:
        """A file system of its own at `path` (made if missing)."""
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=False
        )
        if done.returncode:
            pytest.skip("this machine does not let us mount a tmpfs")
        self.targets.append(path)
        return path

    def bind(self, source: Path, target: Path) -> None:
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
        self.targets.append(target)

    def unmount(self, path: Path) -> None:
        subprocess.run(["umount", "-l", str(path)], check=True)
        self.targets.remove(path)

    def undo(self) -> None:
        for target in reversed(self.targets):
            subprocess.run(["umount", "-l", str(target)], check=False)
        self.targets.clear()


def real_mounts() -> Iterator[RealMounts]:
    """For a fixture: mounts a test makes, all undone after it (skipped without root)."""
    if os.geteuid() != 0:
        pytest.skip("mounts need root")
    made = RealMounts()
    try:
        yield made
    finally:
        made.undo()
