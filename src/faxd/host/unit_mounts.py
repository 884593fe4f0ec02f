"""What the faxd unit's sandbox makes of a path, as systemd.exec(5) sets it up: systemd
mounts each listed path over the file system, outermost first, so the deepest one that
holds a path decides what the service may do there, and of two at the same path the
stricter wins (inaccessible, then read-only, then writable). ProtectSystem=yes and full
are such read-only mounts too, so a ReadWritePaths= below one makes a folder writable
again. Two kinds end every path below them whatever is listed deeper: an inaccessible
one (InaccessiblePaths=, ProtectHome=yes), where systemd drops the deeper mounts, and an
empty file system (TemporaryFileSystem=, ProtectHome=tmpfs, PrivateTmp=), in which a
deeper ReadWritePaths= finds nothing to mount; only a BindPaths= brings a folder into
that one."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Access = Literal["writable", "read-only", "inaccessible", "empty", "bound"]
_OFF = ("0", "no", "false", "off", "")
_ON = ("1", "yes", "true", "on")
# ProtectHome= covers these three, "mostly equivalent" to listing them (systemd.exec(5)).
HOMES = (Path("/home"), Path("/root"), Path("/run/user"))
_PROTECT_HOME: dict[str, Access | None] = {
    **dict.fromkeys(_OFF, None),
    **dict.fromkeys(_ON, "inaccessible"),
    "read-only": "read-only",
    "tmpfs": "empty",
}
# ProtectSystem=: what each value mounts read-only; strict (everything) is seen()'s `strict`.
_OS = (Path("/usr"), Path("/boot"), Path("/efi"))
_PROTECT_SYSTEM: dict[str, tuple[Path, ...]] = {
    **dict.fromkeys((*_OFF, "strict"), ()),
    **dict.fromkeys(_ON, _OS),
    "full": (*_OS, Path("/etc")),
}
# PrivateTmp=: the service's own /tmp and /var/tmp, empty at each start and seen by no
# one else, so a folder there is not the one office users save into.
_PRIVATE_TMP = (Path("/tmp"), Path("/var/tmp"))  # noqa: S108
_LISTED: dict[str, Access] = {
    "ReadWritePaths": "writable",
    "ReadOnlyPaths": "read-only",
    "InaccessiblePaths": "inaccessible",
}
_HIDDEN: tuple[Access, ...] = ("inaccessible", "empty")


@dataclass(frozen=True)
class Mount:
    path: Path  # as the unit names it
    access: Access
    setting: str  # the unit's line that made it, for a message: "ProtectHome=yes"


@dataclass(frozen=True)
class Seen:
    """What the service may do at a path, and the mount that decides it (None: no mount
    holds the path, so ProtectSystem=strict alone decides)."""

    access: Access
    mount: Mount | None


def protect_home(value: str, setting: str | None = None) -> list[Mount]:
    """The mounts of ProtectHome=`value` (`setting`: the line that implies it); raises
    ValueError for a value systemd would not take (it ignores that line, leaving the one
    before it: unknown here)."""
    if value.lower() not in _PROTECT_HOME:
        raise ValueError(f"ProtectHome={value}")
    access = _PROTECT_HOME[value.lower()]
    if access is None:
        return []
    return [Mount(home, access, setting or f"ProtectHome={value}") for home in HOMES]


def protect_system(value: str) -> list[Mount]:
    """The read-only mounts of ProtectSystem=`value` (none for strict, which makes all of
    the file system read-only: seen()'s `strict`); raises ValueError for a value systemd
    would not take."""
    if value.lower() not in _PROTECT_SYSTEM:
        raise ValueError(f"ProtectSystem={value}")
    paths = _PROTECT_SYSTEM[value.lower()]
    return [Mount(path, "read-only", f"ProtectSystem={value}") for path in paths]


def private_tmp(setting: str) -> list[Mount]:
    """The service's own /tmp and /var/tmp (`setting`: PrivateTmp=yes, or the line that
    implies it): an empty file system, like TemporaryFileSystem=."""
    return [Mount(path, "empty", setting) for path in _PRIVATE_TMP]


def listed(key: str, paths: Iterable[Path]) -> list[Mount]:
    """The mounts of ReadWritePaths=, ReadOnlyPaths= or InaccessiblePaths=."""
    return [Mount(path, _LISTED[key], f"{key}={path}") for path in paths]


def bound(key: str, destinations: Iterable[Path]) -> list[Mount]:
    """The mounts of BindPaths= or BindReadOnlyPaths=, at their destinations."""
    return [Mount(path, "bound", f"{key}={path}") for path in destinations]


def temporary(paths: Iterable[Path]) -> list[Mount]:
    """The mounts of TemporaryFileSystem=: an empty file system, the service's own."""
    return [Mount(path, "empty", f"TemporaryFileSystem={path}") for path in paths]


def seen(mounts: Iterable[Mount], strict: bool, path: Path) -> Seen | None:
    """What the service may do at `path`; None where a BindPaths= decides, whose source
    is not followed here."""
    real = Path(os.path.realpath(path))
    holding = [m for m in mounts if real.is_relative_to(os.path.realpath(m.path))]
    inaccessible = [m for m in holding if m.access == "inaccessible"]
    if inaccessible:
        return Seen("inaccessible", _outermost(inaccessible))
    empty = [m for m in holding if m.access == "empty"]
    bound = [m for m in holding if m.access == "bound"]
    # A bind at or below the empty file system brings the folder in; one above it is
    # covered by it.
    if empty and not any(_depth(b) >= _depth(_outermost(empty)) for b in bound):
        return Seen("empty", _outermost(empty))
    if bound:
        return None
    deepest = max(holding, key=lambda m: (_depth(m), m.access == "read-only"), default=None)
    if deepest is None:
        return Seen("read-only" if strict else "writable", None)
    return Seen(deepest.access, deepest)


def hidden(access: Access) -> bool:
    return access in _HIDDEN


def _outermost(mounts: list[Mount]) -> Mount:
    return min(mounts, key=_depth)


def _depth(mount: Mount) -> int:
    return len(Path(os.path.realpath(mount.path)).parts)
