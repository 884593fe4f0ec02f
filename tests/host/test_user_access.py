"""What another user may do with a path, with the groups a unit gives it. Real files and
the machine's own accounts: nobody and the group fax (base-passwd's), as the suite makes
no accounts of its own."""

from __future__ import annotations

import grp
import os
from pathlib import Path

import pytest

from faxd.host.user_access import SEARCH, USE, account, group_id, group_letting_in, with_groups


def _fax() -> grp.struct_group | None:
    try:
        return grp.getgrnam("fax")
    except KeyError:
        return None


FAX = _fax()
pytestmark = pytest.mark.skipif(
    FAX is None or account("nobody") is None or "nobody" in FAX.gr_mem,
    reason="needs user nobody and a group fax it is not in",
)


def test_a_units_group_replaces_the_users_own_and_its_supplementary_ones_add() -> None:
    # systemd: setgid(Group=), initgroups() from /etc/group, then SupplementaryGroups=.
    assert FAX is not None
    nobody = account("nobody")
    assert nobody is not None
    users = grp.getgrnam("users").gr_gid
    as_fax = with_groups(nobody, FAX.gr_gid, [users])
    assert (as_fax.gid, as_fax.group, as_fax.gids) == (
        FAX.gr_gid,
        "fax",
        frozenset({FAX.gr_gid, users}),
    )
    assert with_groups(nobody, None, []) == nobody
    assert group_id("fax") == group_id(str(FAX.gr_gid)) == FAX.gr_gid
    assert group_id("faxd-test-no-such-group") is None


@pytest.mark.skipif(os.geteuid() != 0, reason="gives a file to root and the group fax")
def test_the_group_that_would_let_a_user_in_is_named(tmp_path: Path) -> None:
    assert FAX is not None
    nobody = account("nobody")
    assert nobody is not None
    shared = tmp_path / "out"
    shared.mkdir()
    shared.chmod(0o770)
    os.chown(shared, 0, FAX.gr_gid)
    assert group_letting_in(shared, nobody, USE) == "fax"
    assert group_letting_in(shared, with_groups(nobody, None, [FAX.gr_gid]), USE) is None
    shared.chmod(0o710)
    assert group_letting_in(shared, nobody, USE) is None
    assert group_letting_in(shared, nobody, SEARCH) == "fax"
    os.chown(shared, 0, 0)  # root's group is never advised
    assert group_letting_in(shared, nobody, SEARCH) is None
