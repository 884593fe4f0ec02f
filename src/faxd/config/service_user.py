"""The folders and files checked again for the service user. `faxd check-config` run as
root, as an admin runs it before `systemctl start`, asks os.access() as root, which may
write anywhere: it said OK for folders the daemon, running as the unit's `User=faxd`,
then could not use. So as root every folder faxd writes, every file it reads (the
configuration itself, the credentials, CA bundles, the contacts file, the templates) and
every program a command channel runs is checked once more from that user's uid and
groups (those the unit gives it when it is the unit's User=: config/unit_groups.py): the
owner, group and mode bits, and a POSIX ACL if present."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from faxd.config import configured_files, configured_folders
from faxd.config.host_checks import problems_at
from faxd.config.unit_groups import as_run, group_fix
from faxd.errors import ConfigProblem
from faxd.host.folders import nearest_existing
from faxd.host.systemd_unit import Sandbox
from faxd.host.user_access import READ, SEARCH, USE, WRITE, Account, account, described, lacks
from faxd.settings import Settings

SERVICE_USER = "faxd"  # User= in systemd/faxd.service, made by scripts/install.sh
# The unit's StateDirectory=faxd: systemd makes it and hands it to the user at each start.
SYSTEMD_STATE_DIR = Path("/var/lib/faxd")


def chosen_user(given: str | None, sandbox: Sandbox | None) -> tuple[str, str | None]:
    """Whom to check as: --service-user if `given`, else the User= of the unit check-config
    read, else faxd; with a line to say when --service-user is not the unit's User=."""
    unit_user = sandbox.user if sandbox is not None else None
    if given is None:
        return unit_user or SERVICE_USER, None
    if unit_user is None or sandbox is None or _same_user(given, unit_user):
        return given, None
    return given, (
        f"--service-user {given} is not the User={unit_user} of {sandbox.source}; the "
        f"folders and files were checked as {given}."
    )


def _same_user(one: str, other: str) -> bool:
    """Whether two names (or uids, as User= may give one) are the same account."""
    if one == other:
        return True
    first, second = account(one), account(other)
    return first is not None and second is not None and first.uid == second.uid


@dataclass
class ServiceUserCheck:
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_service_user(
    settings: Settings,
    name: str = SERVICE_USER,
    environ: Mapping[str, str] | None = None,
    sandbox: Sandbox | None = None,
) -> ServiceUserCheck:
    """What `name` could not do with the configured folders and files; nothing unless run
    as root (as any other user, check_environment and the loading of the credentials
    have asked the kernel as that user already). `environ`: check-config's, whose
    $CREDENTIALS_DIRECTORY stands for the unit's; `sandbox`: the unit it read, whose
    Group= and SupplementaryGroups= count when `name` is its User=."""
    found = ServiceUserCheck()
    if os.geteuid() != 0:
        return found
    who = account(name)
    if who is None:
        found.warnings.append(
            f"the service user {name} does not exist on this machine, so the folders and "
            "files were checked only as root; create it (scripts/install.sh does), or name "
            "the unit's User= with --service-user."
        )
        return found
    if sandbox is not None and sandbox.user is not None and _same_user(name, sandbox.user):
        who, missing = as_run(who, sandbox)
        found.problems += [ConfigProblem("", message) for message in missing]
    service = _Service(who, sandbox.source if sandbox is not None else None)
    said: dict[str, tuple[str, ...]] = {}  # a folder in the way of several is named once
    for folder in configured_folders.written(settings):
        if (message := _folder_problem(folder.path, service)) is not None:
            said.setdefault(message, folder.keys)
    handed_over = (environ or {}).get("CREDENTIALS_DIRECTORY")
    for file in configured_files.read(settings):
        if handed_over and file.path.is_relative_to(handed_over):
            continue  # systemd copies it for the service user (LoadCredential=)
        if (message := _file_problem(file, service)) is not None:
            said.setdefault(message, file.keys)
    found.problems += [ConfigProblem("", message) for message, keys in said.items() if not keys]
    found.problems += problems_at(settings, [(k, m) for m, k in said.items() if k])
    return found


@dataclass(frozen=True)
class _Service:
    who: Account  # with the groups the unit gives it
    unit: str | None  # the unit check-config read, for the advice

    def fix(self, path: Path, want: int, usual: str) -> str:
        """The `usual` fix for what `who` lacks of `want` at `path`, or giving the service
        the group of `path` when that group may: the folder was shared with a group."""
        return group_fix(path, self.who, want, self.unit) or usual


def _folder_problem(path: Path, service: _Service) -> str | None:
    """Why the service could not use `path`, in one sentence naming the folder in the way."""
    who = service.who
    try:
        existing = nearest_existing(path)
    except OSError:
        return None  # check_environment says why it cannot be looked at
    if path.is_symlink():
        existing = path  # a link to nowhere holds the name: no folder can be made there
    if _handed_over(path, existing):
        return None  # systemd makes the state directory for the user, and faxd the rest
    if (closed := _closed_on_the_way(existing, service)) is not None:
        return closed
    if not existing.is_dir():
        return None  # not a folder: said by check_environment
    if existing != path:
        return _create_problem(path, existing, service)
    if lacking := lacks(path, who, USE):
        usual = (
            f"give the folder to that user (chown {who.name}) or to a group it is in (chgrp, "
            f"chmod g+rwx), or setfacl -m u:{who.name}:rwx {path}"
        )
        return (
            f"the service user {who.name} cannot use {path} ({described(path)}): it lacks "
            f"{lacking} there; {service.fix(path, USE, usual)}."
        )
    return None


def _closed_on_the_way(path: Path, service: _Service) -> str | None:
    """The folder above `path` that the service may not look into, said once for all
    below it."""
    who = service.who
    for folder in reversed(path.parents):
        if _handed_over(path, folder):
            continue
        if lacking := lacks(folder, who, SEARCH):
            usual = (
                f"let it in (chmod o+x, g+x for a group it is in, or setfacl -m "
                f"u:{who.name}:x {folder})"
            )
            return (
                f"the service user {who.name} cannot look into {folder} "
                f"({described(folder)}): it lacks {lacking} there, so faxd cannot reach "
                f"the folders and files below it; {service.fix(folder, SEARCH, usual)}."
            )
    return None


def _handed_over(path: Path, folder: Path) -> bool:
    """Whether `folder`, on the way to `path`, is systemd's state directory or above it:
    systemd makes that folder and gives it to the service user at each start."""
    return path.is_relative_to(SYSTEMD_STATE_DIR) and SYSTEMD_STATE_DIR.is_relative_to(folder)


def _file_problem(file: configured_files.Read, service: _Service) -> str | None:
    """Why the service could not read `file`, which faxd reads at start and on every
    reload."""
    who, path = service.who, file.path
    if (closed := _closed_on_the_way(path, service)) is not None:
        return closed
    if not (os.path.isdir(path) if file.listed else os.path.isfile(path)):
        return None  # loading the configuration (or check_programs) says what is wrong
    if file.run:
        return _run_problem(path, service)
    want = READ | SEARCH if file.listed else READ
    if not (lacking := lacks(path, who, want)):
        return None
    if file.listed:
        usual = (
            f"let that user in (chgrp {who.group} and chmod g+rx, or setfacl -m "
            f"u:{who.name}:rx {path})"
        )
        return (
            f"the service user {who.name} cannot list {path} ({described(path)}): it lacks "
            f"{lacking} there; {service.fix(path, want, usual)}."
        )
    if file.keys == configured_files.WHOLE_FILE:
        usual = (
            f"let that user read it (chgrp {who.group} {path} and chmod 640 {path}, or "
            f"setfacl -m u:{who.name}:r {path})"
        )
        return (
            f"the service user {who.name} cannot read the configuration {path} "
            f"({described(path)}): it lacks {lacking} on it, so faxd cannot start; "
            f"{service.fix(path, want, usual)}."
        )
    if file.secret:
        advice = (
            "have the unit hand it over (LoadCredential=) and name it here as "
            "${CREDENTIALS_DIRECTORY}/NAME, or let that user read it"
        )
    else:
        advice = "let that user read it"
    usual = f"{advice} (chgrp {who.group} and chmod g+r, or setfacl -m u:{who.name}:r {path})"
    return (
        f"the service user {who.name} cannot read {path} ({described(path)}): it lacks "
        f"{lacking} on it; {service.fix(path, want, usual)}."
    )


def _run_problem(path: Path, service: _Service) -> str | None:
    """Why the service could not run the program at `path`: it needs execute on it, and
    read too for a script, which the kernel hands to its interpreter to open by name."""
    if not os.access(path, os.X_OK):
        return None  # executable by no one, or on a noexec mount: said by check_programs
    who, script = service.who, _is_script(path)
    want = READ | SEARCH if script else SEARCH
    if not (lacking := lacks(path, who, want)):
        return None
    bits = "rx" if script else "x"
    usual = (
        f"let that user run it (chgrp {who.group} and chmod g+{bits}, or setfacl -m "
        f"u:{who.name}:{bits} {path})"
    )
    return (
        f"the service user {who.name} cannot run the {'script' if script else 'program'} "
        f"{path} ({described(path)}): it lacks {lacking} on it; "
        f"{service.fix(path, want, usual)}."
    )


def _is_script(path: Path) -> bool:
    try:
        with path.open("rb") as program:
            return program.read(2) == b"#!"
    except OSError:
        return False  # run as it is, then: execute is all the kernel asks


def _create_problem(path: Path, existing: Path, service: _Service) -> str | None:
    """faxd creates a missing folder at start, as the service user, inside `existing`."""
    who = service.who
    if lacking := lacks(existing, who, WRITE | SEARCH):
        usual = f"create it for that user (install -d -o {who.name} -g {who.group} -m 2770 {path})"
        return (
            f"the service user {who.name} cannot create {path} in {existing} "
            f"({described(existing)}): it lacks {lacking} there; "
            f"{service.fix(existing, WRITE | SEARCH, usual)}."
        )
    return None
