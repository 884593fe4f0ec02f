"""What another user may do with a path, read from its owner, group, mode bits and POSIX
ACL: os.access() answers only for the user asking, and `faxd check-config` asks as root
on behalf of the service user."""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

READ, WRITE, SEARCH = 4, 2, 1
USE = READ | WRITE | SEARCH  # faxd lists, writes and renames in each of its folders
_NAMES = {READ: "read (r)", WRITE: "write (w)", SEARCH: "search (x)"}
_FILE_NAMES = {**_NAMES, SEARCH: "execute (x)"}  # x on a file: run it

# The kernel's POSIX ACL xattr: a version, then (tag, permissions, id) entries.
_ACL = "system.posix_acl_access"
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int  # its primary group
    gids: frozenset[int]  # every group it is in, the primary one too
    group: str  # its primary group's name, for the advice


def account(name: str) -> Account | None:
    """The user `name`, or with that uid (a unit's User= may be either)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        try:
            entry = pwd.getpwuid(int(name))
        except (KeyError, ValueError):
            return None
    gids = frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, gids, _group(entry.pw_gid))


def group_id(name: str) -> int | None:
    """The group `name`, or with that gid (a unit's Group= may be either); None for one
    this machine does not have, which systemd refuses too."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        try:
            return grp.getgrgid(int(name)).gr_gid
        except (KeyError, ValueError):
            return None


def with_groups(who: Account, gid: int | None, supplementary: Iterable[int]) -> Account:
    """`who` as systemd starts a unit's User=: with `gid` (its Group=) as its group, else
    its own, the groups /etc/group lists it in (initgroups()), and the `supplementary`
    ones (its SupplementaryGroups=)."""
    primary = who.gid if gid is None else gid
    gids = frozenset(os.getgrouplist(who.name, primary)) | frozenset(supplementary)
    return Account(who.name, who.uid, primary, gids, _group(primary))


def group_letting_in(path: Path, who: Account, want: int) -> str | None:
    """The group of `path` when being in it would give `who` all of `want` there (not
    root's group: no service should be given that)."""
    try:
        gid = path.stat().st_gid
    except OSError:
        return None
    if gid == 0 or gid in who.gids:
        return None
    joined = dataclasses.replace(who, gids=who.gids | {gid})
    return None if lacks(path, joined, want) else _group(gid)


def lacks(path: Path, who: Account, want: int) -> str:
    """The permissions of `want` that `who` lacks on `path`, in words ("" for none, and
    for a path that cannot be looked at: that is for the caller's own checks to say)."""
    try:
        st = path.stat()
    except OSError:
        return ""
    missing = [bit for bit in (READ, WRITE, SEARCH) if want & bit and not _may(st, path, who, bit)]
    names = _NAMES if stat.S_ISDIR(st.st_mode) else _FILE_NAMES
    return " and ".join(names[bit] for bit in missing)


def described(path: Path) -> str:
    """Its owner, group and mode, as `ls -l` would let an admin check them."""
    st = path.stat()
    acl = ", with an ACL" if _acl(path) else ""
    return f"{_user(st.st_uid)}:{_group(st.st_gid)}, mode {stat.S_IMODE(st.st_mode):04o}{acl}"


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
