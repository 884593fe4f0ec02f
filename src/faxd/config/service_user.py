"""The folders checked again for the service user. `faxd check-config` run as root, as an
admin runs it before `systemctl start`, asks os.access() as root, which may write
anywhere: it said OK for folders the daemon, running as the unit's `User=faxd`, then
could not use. So as root every folder faxd reads and writes is checked once more from
that user's uid and groups: the owner, group and mode bits, and a POSIX ACL if present."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from faxd.config.host_checks import problems_at
from faxd.errors import ConfigProblem
from faxd.settings import Settings

SERVICE_USER = "faxd"  # User= in systemd/faxd.service, made by scripts/install.sh
# The unit's StateDirectory=faxd: systemd makes it and hands it to the user at each start.
SYSTEMD_STATE_DIR = Path("/var/lib/faxd")

READ, WRITE, SEARCH = 4, 2, 1
USE = READ | WRITE | SEARCH  # faxd lists, writes and renames in each of its folders
_NAMES = {READ: "read (r)", WRITE: "write (w)", SEARCH: "search (x)"}

# The kernel's POSIX ACL xattr: a version, then (tag, permissions, id) entries.
_ACL = "system.posix_acl_access"
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gids: frozenset[int]
    group: str  # its primary group, for the advice


@dataclass
class ServiceUserCheck:
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _account(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    gids = frozenset(os.getgrouplist(name, entry.pw_gid))
    return Account(name, entry.pw_uid, gids, _group(entry.pw_gid))


def check_service_user(settings: Settings, name: str = SERVICE_USER) -> ServiceUserCheck:
    """What `name` could not do in the configured folders; nothing unless run as root (as
    any other user, check_environment has asked the kernel as that user already)."""
    found = ServiceUserCheck()
    if os.geteuid() != 0:
        return found
    who = _account(name)
    if who is None:
        found.warnings.append(
            f"the service user {name} does not exist on this machine, so the folders were "
            "checked only as root; create it (scripts/install.sh does), or name the unit's "
            "User= with --service-user."
        )
        return found
    said: dict[str, list[str]] = {}  # a folder in the way of several is named once
    for keys, path in _folders(settings):
        message = _folder_problem(path, who)
        if message is not None:
            said.setdefault(message, keys)
    found.problems = problems_at(settings, [(keys, message) for message, keys in said.items()])
    return found


def _folders(settings: Settings) -> Iterator[tuple[list[str], Path]]:
    """Each folder faxd reads and writes, with the keys that set it (for the line)."""
    if settings.state_dir != SYSTEMD_STATE_DIR:
        yield ["state_dir"], settings.state_dir
    for index, folder in enumerate(settings.folders):
        at = f"folders[{index}]"
        yield [f"{at}.path", at], folder.path
        for key in ("sent_dir", "failed_dir"):
            yield [f"{at}.{key}", f"defaults.{key}", f"{at}.path", at], getattr(folder, key)
        # Beside failed/ unless set, so named at failed_dir's line then.
        hold_keys = [f"{at}.hold_dir", "defaults.hold_dir", f"{at}.failed_dir"]
        yield [*hold_keys, "defaults.failed_dir", f"{at}.path", at], folder.hold_folder
    if settings.inbox is not None:
        yield ["inbox.path", "inbox"], settings.inbox.path
        for target in settings.inbox.routes.values():
            yield ["inbox.routes", "inbox"], target


def _folder_problem(path: Path, who: Account) -> str | None:
    """Why `who` could not use `path`, in one sentence naming the folder in the way."""
    existing = _existing(path)
    if existing is None:
        return None  # check_environment says what is wrong with this path
    for folder in reversed(existing.parents):
        if lacking := _lacks(folder, who, SEARCH):
            return (
                f"the service user {who.name} cannot look into {folder} "
                f"({_described(folder)}): it lacks {lacking} there, so faxd cannot reach "
                f"the folders below it; let it in (chmod o+x, g+x for a group it is in, or "
                f"setfacl -m u:{who.name}:x {folder})."
            )
    if existing != path:
        return _create_problem(path, existing, who)
    if not path.is_dir():
        return None  # not a folder: said by check_environment
    if lacking := _lacks(path, who, USE):
        return (
            f"the service user {who.name} cannot use {path} ({_described(path)}): it lacks "
            f"{lacking} there; give the folder to that user (chown {who.name}) or to a group "
            f"it is in (chgrp, chmod g+rwx), or setfacl -m u:{who.name}:rwx {path}."
        )
    return None


def _create_problem(path: Path, existing: Path, who: Account) -> str | None:
    """faxd creates a missing folder at start, as the service user, inside `existing`."""
    if lacking := _lacks(existing, who, WRITE | SEARCH):
        return (
            f"the service user {who.name} cannot create {path} in {existing} "
            f"({_described(existing)}): it lacks {lacking} there; create it for that user "
            f"(install -d -o {who.name} -g {who.group} -m 2770 {path})."
        )
    return None


def _existing(path: Path) -> Path | None:
    """`path`, or the nearest folder above it that exists (faxd creates the rest)."""
    for candidate in (path, *path.parents):
        try:
            candidate.lstat()
        except FileNotFoundError:
            continue
        except OSError:
            return None
        return candidate
    return None


def _lacks(path: Path, who: Account, want: int) -> str:
    """The permissions of `want` that `who` lacks on `path`, in words ("" for none)."""
    try:
        st = path.stat()
    except OSError:
        return ""  # check_environment says why it cannot be looked at
    missing = [bit for bit in (READ, WRITE, SEARCH) if want & bit and not _may(st, path, who, bit)]
    return " and ".join(_NAMES[bit] for bit in missing)


def _may(st: os.stat_result, path: Path, who: Account, want: int) -> bool:
    if who.uid == 0:
        return True
    entries = _acl(path)
    if entries:
        return _acl_grants(entries, st, who, want)
    if st.st_uid == who.uid:
        bits = st.st_mode >> 6
    elif st.st_gid in who.gids:
        bits = st.st_mode >> 3
    else:
        bits = st.st_mode
    return bits & want == want


def _acl(path: Path) -> list[tuple[int, int, int]]:
    """The entries of `path`'s access ACL; none where it has only its mode bits."""
    try:
        raw = os.getxattr(path, _ACL)
    except OSError:
        return []  # none, or a file system without ACLs: the mode bits decide
    return [struct.unpack_from("<HHI", raw, offset) for offset in range(4, len(raw), 8)]


def _acl_grants(
    entries: list[tuple[int, int, int]], st: os.stat_result, who: Account, want: int
) -> bool:
    """The access check of acl(5): the owner's entry, else a named user's, else any
    matching group entry that grants it all, else the other entry; the mask limits all
    but the owner's and the other entry."""
    mask = next((perm for tag, perm, _ in entries if tag == _MASK), USE)
    if st.st_uid == who.uid:
        return _granted(entries, _USER_OBJ, want)
    named = [perm for tag, perm, uid in entries if tag == _USER and uid == who.uid]
    if named:
        return named[0] & mask & want == want
    groups = [
        perm
        for tag, perm, gid in entries
        if (tag == _GROUP_OBJ and st.st_gid in who.gids) or (tag == _GROUP and gid in who.gids)
    ]
    if groups:
        return any(perm & mask & want == want for perm in groups)
    return _granted(entries, _OTHER, want)


def _granted(entries: list[tuple[int, int, int]], tag: int, want: int) -> bool:
    return any(t == tag and perm & want == want for t, perm, _ in entries)


def _described(path: Path) -> str:
    st = path.stat()
    acl = ", with an ACL" if _acl(path) else ""
    return f"{_user(st.st_uid)}:{_group(st.st_gid)}, mode {stat.S_IMODE(st.st_mode):04o}{acl}"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
