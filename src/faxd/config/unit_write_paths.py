"""Whether each folder faxd writes lies where the systemd unit lets it write. Owner and
mode may allow it while the unit's ProtectSystem=strict mounts the folder read-only: the
service user's check said OK, and the daemon then could not file a single document."""

from __future__ import annotations

import os
from pathlib import Path

from faxd.config import configured_folders
from faxd.config.host_checks import problems_at
from faxd.errors import ConfigProblem
from faxd.host import systemd_unit
from faxd.host.systemd_unit import Sandbox
from faxd.settings import Settings


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


def check_write_paths(settings: Settings, sandbox: Sandbox, user: str) -> list[ConfigProblem]:
    writable = [_real(path) for path in sandbox.writable]
    outside: dict[Path, tuple[str, ...]] = {}
    folders = [*configured_folders.filing_roots(settings), *configured_folders.written(settings)]
    for folder in folders:
        real = _real(folder.path)
        if not any(real.is_relative_to(place) for place in writable):
            outside.setdefault(folder.path, folder.keys)
    # A folder inside another one named already is read-only for the same reason.
    named = [
        (keys, _message(path, sandbox, user))
        for path, keys in outside.items()
        if not any(path != other and path.is_relative_to(other) for other in outside)
    ]
    return problems_at(settings, named)


def _message(path: Path, sandbox: Sandbox, user: str) -> str:
    places = ", ".join(str(place) for place in dict.fromkeys(sandbox.writable)) or "nothing"
    if sandbox.source == systemd_unit.UNIT:
        advice = f"add it with systemctl edit faxd (ReadWritePaths={path})"
    else:
        advice = f"add ReadWritePaths={path} to the unit"
    return (
        f"{path} is read-only for the service user {user} whatever its permissions: "
        f"{sandbox.source} (ProtectSystem=strict) lets the service write only below "
        f"{places}; {advice}."
    )


def _real(path: Path) -> Path:
    # systemd follows links in ReadWritePaths= as the kernel follows them to the folder.
    return Path(os.path.realpath(path))
