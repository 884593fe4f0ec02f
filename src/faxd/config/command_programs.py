"""Whether the program each command channel runs is there and may be run. Only `faxd
check-config` asks, not the start or a reload: a missing program fails that channel's
messages (said in the log and `faxd status`) while faxes go on, and refusing the start
for it would stop the faxing as well. Run as root, check-config asks for the service
user too (service_user.py), and the unit's sandbox may hide the program (unit_paths.py)."""

from __future__ import annotations

import os
from pathlib import Path

from faxd.config import configured_files
from faxd.config.host_checks import problems_at, unsearchable
from faxd.errors import ConfigProblem
from faxd.host.user_access import described
from faxd.settings import Settings


def check_programs(settings: Settings) -> list[ConfigProblem]:
    """Each command channel's program that faxd's user could not run, at its argv's line."""
    found = [
        (program.keys, message)
        for program in configured_files.programs(settings)
        if (message := program_problem(program.path)) is not None
    ]
    return problems_at(settings, found)


def program_problem(path: Path) -> str | None:
    """Why faxd's user could not run `path`, in one sentence; None when it could."""
    uid = os.getuid()
    if (closed := unsearchable(path)) is not None:
        return (
            f"faxd's user (uid {uid}) cannot look into {closed}, so it cannot run the "
            f"program {path}; give that user access to {closed} (chown, or chmod g+x)."
        )
    if not path.is_file():
        return (
            f"the program {path} does not exist or is not a file; install it there, or "
            "correct the path in argv."
        )
    if _noexec(path):
        return (
            f"the program {path} is on a file system mounted noexec, where nothing may be "
            "run; put it elsewhere (/usr/local/bin), or remount that file system without "
            "noexec."
        )
    if not os.access(path, os.X_OK):
        return (
            f"the program {path} is not executable by faxd's user (uid {uid}): it is "
            f"{described(path)}; make it executable (chmod +x {path})."
        )
    return None


def _noexec(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_NOEXEC)
    except OSError:
        return False
