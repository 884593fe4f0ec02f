"""Whether each folder faxd writes, and each file it reads, is where the systemd unit lets
the service write or see it. Owner and mode may allow it while the unit's sandbox mounts
the folder read-only (ProtectSystem=strict outside ReadWritePaths=, ProtectSystem=yes or
full, ReadOnlyPaths=, ProtectHome=read-only) or hides it (ProtectHome=yes or tmpfs for
anything under /home, /root or /run/user, InaccessiblePaths=, PrivateTmp= for /tmp and
/var/tmp): the service user's check said OK, and the daemon then could not file a single
document, or not even start, or worked in a /tmp of its own that no office user saw."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from faxd.config import configured_files, configured_folders
from faxd.config.host_checks import problems_at
from faxd.errors import ConfigProblem
from faxd.host import systemd_unit, unit_mounts
from faxd.host.systemd_unit import Sandbox
from faxd.host.unit_mounts import Seen
from faxd.settings import Settings

# The lines that give the service a /tmp and /var/tmp of its own (DynamicUser= implies it).
_PRIVATE_TMP = ("PrivateTmp=", "DynamicUser=")


def unit_sandbox(unit_file: Path | None, config: Path) -> Sandbox | None:
    """The sandbox of `unit_file`, else of the installed unit when its ExecStart= runs the
    configuration `config`: another file checked (a draft, a test's) is not what that
    unit runs, so its folders are not held to it. Raises OSError for `unit_file`."""
    if unit_file is not None:
        return systemd_unit.from_file(unit_file)
    sandbox = systemd_unit.installed()
    if sandbox is None or sandbox.config is None:
        return None
    return sandbox if _real(sandbox.config) == _real(config) else None


def check_unit_paths(
    settings: Settings, sandbox: Sandbox, user: str, environ: Mapping[str, str]
) -> list[ConfigProblem]:
    """`environ`: check-config's, whose $CREDENTIALS_DIRECTORY stands for the unit's."""
    found: dict[Path, tuple[tuple[str, ...], Seen, bool]] = {}
    folders = [*configured_folders.filing_roots(settings), *configured_folders.written(settings)]
    for folder in folders:
        seen = unit_mounts.seen(sandbox.mounts, sandbox.strict, folder.path)
        if seen is not None and seen.access != "writable":
            found.setdefault(folder.path, (folder.keys, seen, True))
    handed_over = environ.get("CREDENTIALS_DIRECTORY")
    for file in configured_files.read(settings):
        if handed_over and file.path.is_relative_to(handed_over):
            continue  # systemd copies it for the service (LoadCredential=)
        seen = unit_mounts.seen(sandbox.mounts, sandbox.strict, file.path)
        if seen is not None and unit_mounts.hidden(seen.access):
            found.setdefault(file.path, (file.keys, seen, False))
    # A path inside another one named already is so for the same reason.
    named = [
        (keys, _message(path, seen, written, sandbox, user))
        for path, (keys, seen, written) in found.items()
        if not any(
            path != other and path.is_relative_to(other) and found[other][1] == seen
            for other in found
        )
    ]
    whole = [ConfigProblem("", message) for keys, message in named if not keys]
    return whole + problems_at(settings, [(keys, message) for keys, message in named if keys])


def _message(path: Path, seen: Seen, written: bool, sandbox: Sandbox, user: str) -> str:
    mount = seen.mount
    if mount is None:
        places = ", ".join(str(place) for place in dict.fromkeys(sandbox.writable)) or "nothing"
        return (
            f"{path} is read-only for the service user {user} whatever its permissions: "
            f"{sandbox.source} (ProtectSystem=strict) lets the service write only below "
            f"{places}; {_add_write_path(path, sandbox)}."
        )
    if seen.access == "read-only":
        if mount.setting.startswith("ReadOnlyPaths=") and _real(path) == _real(mount.path):
            advice = "take it out of the unit's ReadOnlyPaths="
        else:
            advice = _add_write_path(path, sandbox)
        return (
            f"{path} is read-only for the service user {user} whatever its permissions: "
            f"{sandbox.source} ({mount.setting}) makes {mount.path} read-only for the "
            f"service; {advice}."
        )
    unhide = _unhide(path, seen, written, sandbox)
    if _real(path) != _real(mount.path):
        unhide = f"move it out of {mount.path}, or {unhide}"
    if seen.access == "empty" and mount.setting.startswith(_PRIVATE_TMP):
        own = f"gives the service a {mount.path} of its own, empty at each start"
        if written:  # faxd would work in it, unseen, and take nothing saved by others
            return (
                f"{path} is not the folder the service user {user} sees: {sandbox.source} "
                f"({mount.setting}) {own} and unseen by anyone else, so nothing saved into "
                f"{path} reaches faxd; {unhide}."
            )
        does = own
    elif seen.access == "inaccessible":
        does = f"makes {mount.path} inaccessible for the service"
    else:
        does = f"puts an empty file system over {mount.path} for the service"
    return (
        f"{path} is hidden from the service user {user} whatever its permissions: "
        f"{sandbox.source} ({mount.setting}) {does}; {unhide}."
    )


def _unhide(path: Path, seen: Seen, written: bool, sandbox: Sandbox) -> str:
    """How the unit would let the service at `path`, which `seen.mount` hides."""
    if seen.access == "empty":  # only a bind reaches into it
        bind = "BindPaths" if written else "BindReadOnlyPaths"
        return _in_unit(f"bind it in ({bind}={path})", sandbox)
    if seen.mount is not None and seen.mount.setting.startswith("ProtectHome="):
        writable = f" and ReadWritePaths={path}" if written else ""
        return _in_unit(f"set ProtectHome=read-only{writable}", sandbox)
    return "take it out of the unit's InaccessiblePaths="


def _add_write_path(path: Path, sandbox: Sandbox) -> str:
    if sandbox.source == systemd_unit.UNIT:
        return f"add it with systemctl edit faxd (ReadWritePaths={path})"
    return f"add ReadWritePaths={path} to the unit"


def _in_unit(change: str, sandbox: Sandbox) -> str:
    if sandbox.source == systemd_unit.UNIT:
        return f"{change} with systemctl edit faxd"
    return f"{change} in the unit"


def _real(path: Path) -> Path:
    # systemd follows links in ReadWritePaths= as the kernel follows them to the folder.
    return Path(os.path.realpath(path))
