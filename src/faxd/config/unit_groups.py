"""The groups the service runs with. systemd starts the unit's User= with its Group= as
its group (else the user's own), the groups /etc/group lists the user in, and its
SupplementaryGroups=: a folder shared with the group fax works for the service only when
the unit gives it that group, or the user is listed in it. The service user's check
(service_user.py) asks as those groups, and where a folder's or file's group would let
the service in, says how to give it that group rather than how to change the folder."""

from __future__ import annotations

from pathlib import Path

from faxd.host import systemd_unit
from faxd.host.systemd_unit import Sandbox
from faxd.host.user_access import Account, group_id, group_letting_in, with_groups


def as_run(who: Account, sandbox: Sandbox) -> tuple[Account, list[str]]:
    """`who`, the unit's User=, with the groups `sandbox` gives it, and a sentence for each
    group the unit names that this machine does not have (left out of the check)."""
    missing: list[str] = []

    def known(key: str, name: str) -> int | None:
        gid = group_id(name)
        if gid is None:
            missing.append(
                f"{sandbox.source} ({key}={name}) names a group this machine does not have, "
                f"so systemd would not start the service; create it ({_groupadd(name)}) or "
                f"{_in_unit('correct it', sandbox.source)}."
            )
        return gid

    primary = known("Group", sandbox.group) if sandbox.group else None
    supplementary = [known("SupplementaryGroups", name) for name in sandbox.supplementary]
    found = with_groups(who, primary, [gid for gid in supplementary if gid is not None])
    return found, missing


def group_fix(path: Path, who: Account, want: int, source: str | None) -> str | None:
    """How to let `who` do `want` at `path` through the group of `path`, when that group
    may (`source`: the unit check-config read, None for none)."""
    group = group_letting_in(path, who, want)
    if group is None:
        return None
    return (
        f"its group {group} may, so give the service that group "
        f"({_in_unit(f'SupplementaryGroups={group}', source)}) or put {who.name} in it "
        f"(usermod -aG {group} {who.name})"
    )


def _in_unit(change: str, source: str | None) -> str:
    if source is None or source == systemd_unit.UNIT:
        return f"{change} with systemctl edit faxd"
    return f"{change} in the unit"


def _groupadd(name: str) -> str:
    if name.isdigit():
        return f"groupadd --system --gid {name} NAME"
    return f"groupadd --system {name}"
