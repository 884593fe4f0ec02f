"""The faxd unit's sandbox: where it lets the service write, and what it hides. With
ProtectSystem=strict systemd mounts the whole file system read-only for the service, but
for its ReadWritePaths=, the folders of its StateDirectory= and the like: a folder
elsewhere is read-only for faxd however its owner and mode look. ProtectSystem=yes and
full (/usr and the boot folders, /etc too), ProtectHome=, ReadOnlyPaths=,
InaccessiblePaths=, TemporaryFileSystem= and PrivateTmp= (a /tmp of the service's own)
hide folders or make them read-only without it (host/unit_mounts.py).

The unit is read as `systemctl cat faxd.service` prints it: the installed file with its
drop-ins (`systemctl edit faxd` writes one), in the order systemd applies them. Anything
read here that systemd would resolve further (a %-specifier, RootDirectory=) makes the
answer unknown: None, rather than a guess."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from faxd.host import unit_mounts
from faxd.host.setting_files import read_setting_file
from faxd.host.unit_mounts import Mount

UNIT = "faxd.service"  # systemd/faxd.service, installed by scripts/install.sh
_SYSTEMCTL_TIMEOUT = 10.0
# The *Directory= settings, each name a folder below its base that systemd makes writable.
_DIRECTORIES = {
    "StateDirectory": Path("/var/lib"),
    "CacheDirectory": Path("/var/cache"),
    "LogsDirectory": Path("/var/log"),
    "RuntimeDirectory": Path("/run"),
}
_PATH_LISTS = ("ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths")
_BINDS = ("BindPaths", "BindReadOnlyPaths")
_LISTS = (
    *_PATH_LISTS,
    *_BINDS,
    "TemporaryFileSystem",
    "ExecStart",
    "SupplementaryGroups",
    *_DIRECTORIES,
)
_UNKNOWABLE = ("RootDirectory", "RootImage")
_TRUE = ("1", "yes", "true", "on")


@dataclass(frozen=True)
class Sandbox:
    source: str  # the unit as an admin names it: faxd.service, or its file
    strict: bool  # ProtectSystem=strict: read-only but where a mount makes it writable
    mounts: tuple[Mount, ...]
    config: Path | None  # the configuration its ExecStart= names with --config
    user: str | None  # its User= (root without one); None: a DynamicUser=, or unknown
    group: str | None  # its Group= (a name or a gid); None: the user's own group
    supplementary: tuple[str, ...]  # its SupplementaryGroups=

    @property
    def writable(self) -> tuple[Path, ...]:
        """Where the unit lets the service write (under ProtectSystem=strict, only there)."""
        return tuple(mount.path for mount in self.mounts if mount.access == "writable")


def installed() -> Sandbox | None:
    """The installed unit's sandbox; None without systemd or without the unit."""
    try:
        shown = subprocess.run(
            ["systemctl", "cat", "--no-pager", UNIT],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_SYSTEMCTL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if shown.returncode != 0:
        return None
    return parse(shown.stdout, UNIT)


def from_file(path: Path) -> Sandbox | None:
    """The sandbox of the unit file at `path` (raises OSError when it cannot be read)."""
    text = read_setting_file(path).decode("utf-8", errors="replace")
    # Absolute: a file named faxd.service in the current folder is not the installed unit.
    return parse(text, os.path.abspath(path))


def parse(text: str, source: str) -> Sandbox | None:
    settings: dict[str, list[str]] = {key: [] for key in _LISTS}
    last: dict[str, str] = {}
    for key, value in _service_settings(text):
        if key in _LISTS:
            if value:
                settings[key].append(value)
            else:
                settings[key].clear()  # an empty assignment resets the list
        else:
            last[key] = value
    if any(key in last for key in _UNKNOWABLE):
        return None
    dynamic = last.get("DynamicUser", "").lower() in _TRUE  # implies ProtectSystem=strict
    strict = last.get("ProtectSystem", "").lower() == "strict" or dynamic
    try:
        mounts = _mounts(settings, last, dynamic)
        supplementary = tuple(_all_words(settings["SupplementaryGroups"]))
    except ValueError:
        return None
    config = _config(settings["ExecStart"][-1]) if settings["ExecStart"] else None
    user = _user(last, dynamic)
    group = last.get("Group") or None
    return Sandbox(source, strict, tuple(mounts), config, user, group, supplementary)


def _user(last: dict[str, str], dynamic: bool) -> str | None:
    user = last.get("User", "")
    if dynamic or "%" in user or "%" in last.get("Group", ""):
        return None  # made at each start, or (or its group) named by a specifier
    return user or "root"


def _mounts(settings: dict[str, list[str]], last: dict[str, str], dynamic: bool) -> list[Mount]:
    """Every mount the unit's settings make (raises ValueError for one not read for sure),
    the writable ones in the order an admin reads them: ReadWritePaths= first."""
    found: list[Mount] = []
    for key in _PATH_LISTS:
        found += unit_mounts.listed(key, [_path(word) for word in _all_words(settings[key])])
    for key, base in _DIRECTORIES.items():
        for word in _all_words(settings[key]):
            directory = base / word.partition(":")[0]
            found.append(Mount(directory, "writable", f"{key}={word}"))
    private_tmp = last.get("PrivateTmp", "")
    if private_tmp.lower() in (*_TRUE, "disconnected"):
        found += unit_mounts.private_tmp(f"PrivateTmp={private_tmp}")
    elif dynamic:  # systemd sets PrivateTmp= for it whatever the unit says
        found += unit_mounts.private_tmp("DynamicUser=yes")
    for key in _BINDS:
        found += unit_mounts.bound(key, [_destination(word) for word in _all_words(settings[key])])
    places = [_path(word.partition(":")[0]) for word in _all_words(settings["TemporaryFileSystem"])]
    found += unit_mounts.temporary(places)
    if not dynamic:  # which makes it strict, whatever ProtectSystem= says
        found += unit_mounts.protect_system(last.get("ProtectSystem", ""))
    home = last.get("ProtectHome", "")
    if dynamic and home.lower() in ("", "0", "no", "false", "off"):
        found += unit_mounts.protect_home("read-only", "DynamicUser=yes")
    else:
        found += unit_mounts.protect_home(home)
    return found


def _all_words(values: list[str]) -> list[str]:
    return [word for value in values for word in _words(value)]


def _destination(word: str) -> Path:
    """Where BindPaths=SOURCE[:DESTINATION[:OPTIONS]] mounts its source."""
    if "\\" in word:
        raise ValueError("an escaped ':' systemd reads")
    source, _, rest = word.lstrip("-").partition(":")
    return _path(rest.partition(":")[0] or source)


def _service_settings(text: str) -> Iterator[tuple[str, str]]:
    """The (key, value) assignments of the [Service] sections, continued lines joined."""
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("#", ";")):
            continue  # also inside a continued line, as systemd reads it
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line:
            key, _, value = line.partition("=")
            yield key.strip(), value.strip()


def _words(value: str) -> list[str]:
    if "%" in value:
        raise ValueError("a specifier systemd fills in")
    return shlex.split(value)  # raises ValueError for an unclosed quote


def _path(word: str) -> Path:
    # "-": ignored when missing; "+": below RootDirectory=, which is refused above.
    path = word.lstrip("-+")
    if not path.startswith("/"):
        raise ValueError("not an absolute path")
    return Path(path)


def _config(exec_start: str) -> Path | None:
    """The --config of an ExecStart= line, written `--config PATH` or `--config=PATH`."""
    try:
        words = shlex.split(exec_start)
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word == "--config" and index + 1 < len(words):
            return Path(words[index + 1])
        if word.startswith("--config="):
            return Path(word.partition("=")[2])
    return None
