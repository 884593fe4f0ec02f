"""The folders checked again for the service user. `faxd check-config` run as root, as an
admin runs it before `systemctl start`, asks os.access() as root, which may write
anywhere: it said OK for folders the daemon, running as the unit's `User=faxd`, then
could not use. So as root every folder faxd reads and writes is checked once more from
that user's uid and groups: the owner, group and mode bits, and a POSIX ACL if present."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from faxd.config import configured_folders as configured
from faxd.config.host_checks import problems_at
from faxd.errors import ConfigProblem
from faxd.host.folders import nearest_existing
from faxd.host.user_access import SEARCH, USE, WRITE, Account, account, described, lacks
from faxd.settings import Settings

SERVICE_USER = "faxd"  # User= in systemd/faxd.service, made by scripts/install.sh
# The unit's StateDirectory=faxd: systemd makes it and hands it to the user at each start.
SYSTEMD_STATE_DIR = Path("/var/lib/faxd")


@dataclass
class ServiceUserCheck:
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_service_user(settings: Settings, name: str = SERVICE_USER) -> ServiceUserCheck:
    """What `name` could not do in the configured folders; nothing unless run as root (as
    any other user, check_environment has asked the kernel as that user already)."""
    found = ServiceUserCheck()
    if os.geteuid() != 0:
        return found
    who = account(name)
    if who is None:
        found.warnings.append(
            f"the service user {name} does not exist on this machine, so the folders were "
            "checked only as root; create it (scripts/install.sh does), or name the unit's "
            "User= with --service-user."
        )
        return found
    said: dict[str, tuple[str, ...]] = {}  # a folder in the way of several is named once
    for folder in _folders(settings):
        message = _folder_problem(folder.path, who)
        if message is not None:
            said.setdefault(message, folder.keys)
    found.problems = problems_at(settings, [(keys, message) for message, keys in said.items()])
    return found


def _folders(settings: Settings) -> Iterator[configured.Configured]:
    """Each folder faxd reads and writes."""
    for folder in configured.written(settings):
        if folder.path != SYSTEMD_STATE_DIR:
            yield folder


def _folder_problem(path: Path, who: Account) -> str | None:
    """Why `who` could not use `path`, in one sentence naming the folder in the way."""
    try:
        existing = nearest_existing(path)
    except OSError:
        return None  # check_environment says why it cannot be looked at
    if path.is_symlink():
        existing = path  # a link to nowhere holds the name: no folder can be made there
    for folder in reversed(existing.parents):
        if lacking := lacks(folder, who, SEARCH):
            return (
                f"the service user {who.name} cannot look into {folder} "
                f"({described(folder)}): it lacks {lacking} there, so faxd cannot reach "
                f"the folders below it; let it in (chmod o+x, g+x for a group it is in, or "
                f"setfacl -m u:{who.name}:x {folder})."
            )
    if not existing.is_dir():
        return None  # not a folder: said by check_environment
    if existing != path:
        return _create_problem(path, existing, who)
    if lacking := lacks(path, who, USE):
        return (
            f"the service user {who.name} cannot use {path} ({described(path)}): it lacks "
            f"{lacking} there; give the folder to that user (chown {who.name}) or to a group "
            f"it is in (chgrp, chmod g+rwx), or setfacl -m u:{who.name}:rwx {path}."
        )
    return None


def _create_problem(path: Path, existing: Path, who: Account) -> str | None:
    """faxd creates a missing folder at start, as the service user, inside `existing`."""
    if lacking := lacks(existing, who, WRITE | SEARCH):
        return (
            f"the service user {who.name} cannot create {path} in {existing} "
            f"({described(existing)}): it lacks {lacking} there; create it for that user "
            f"(install -d -o {who.name} -g {who.group} -m 2770 {path})."
        )
    return None
