"""`faxd check-config` run as root checks the folders and files for the service user with
the groups the unit gives it: its Group= and SupplementaryGroups=, as systemd starts it.
Real folders and unit files; the service user is `nobody` and the shared group is `fax`
(base-passwd's, which nobody is not in), as the suite makes no accounts of its own."""

from __future__ import annotations

import grp
import os
from pathlib import Path

import pytest

from faxd.cli import main

from .test_check_config_service_user import SERVICE_USER, check_config
from .test_check_config_service_user import pytestmark as as_root
from .test_check_config_service_user import root as root

GROUP = "fax"


def _group() -> grp.struct_group | None:
    try:
        return grp.getgrnam(GROUP)
    except KeyError:
        return None


pytestmark = [
    as_root,
    pytest.mark.skipif(
        _group() is None or SERVICE_USER in (_group() or grp.getgrgid(0)).gr_mem,
        reason=f"needs a group {GROUP} that {SERVICE_USER} is not in",
    ),
]


def _shared(root: Path) -> grp.struct_group:
    """The spool folder shared with the group fax, as install.sh shares /srv/fax with faxd."""
    group = _group()
    assert group is not None
    os.chown(root / "out", 0, group.gr_gid)
    (root / "out").chmod(0o2770)
    return group


def _unit(root: Path, *lines: str) -> Path:
    unit = root / "faxd.service"
    unit.write_text(
        f"[Service]\nExecStart=/usr/local/bin/faxd run --config {root}/faxd.yaml\n"
        f"User={SERVICE_USER}\n" + "".join(f"{line}\n" for line in lines)
    )
    return unit


def _check_unit(capsys: pytest.CaptureFixture[str], root: Path) -> tuple[int, list[str]]:
    argv = [
        "check-config",
        "--config",
        str(root / "faxd.yaml"),
        "--unit",
        str(root / "faxd.service"),
    ]
    code = main(argv, environ={"DOCS_KEY": "docs-key-for-the-test"})
    return code, capsys.readouterr().err.splitlines()


def test_a_folder_shared_with_a_group_is_the_services_when_the_unit_gives_it_that_group(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    # Checked with nobody's own groups whatever the unit said: a problem the service did
    # not have, and no word of the group that would let it in.
    group = _shared(root)
    for lines in (
        [f"SupplementaryGroups={GROUP}"],
        [f"Group={GROUP}"],
        [f"Group={group.gr_gid}"],
        ["SupplementaryGroups=daemon", f"SupplementaryGroups=users {GROUP}"],
    ):
        _unit(root, *lines)
        assert _check_unit(capsys, root) == (0, [f"{root}/faxd.yaml: OK"]), lines
    # An empty SupplementaryGroups= (a drop-in's) drops what came before it.
    unit = _unit(root, f"SupplementaryGroups={GROUP}", "SupplementaryGroups=")
    code, err = _check_unit(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 10: folders[0].path: the service user nobody cannot use {root}/out "
        "(root:fax, mode 2770): it lacks read (r) and write (w) and search (x) there; its "
        "group fax may, so give the service that group (SupplementaryGroups=fax in the "
        "unit) or put nobody in it (usermod -aG fax nobody)."
    ]
    # Without a unit, the advice is for the installed one.
    unit.unlink()
    code, err = check_config(capsys, root)
    assert code == 1
    assert "(SupplementaryGroups=fax with systemctl edit faxd)" in err[1]
    # The unit's groups are its User='s: checked as another user, they do not count.
    unit = _unit(root, f"SupplementaryGroups={GROUP}")
    unit.write_text(unit.read_text().replace(f"User={SERVICE_USER}", "User=daemon"))
    code, err = check_config(capsys, root, SERVICE_USER, "--unit", str(unit))
    assert code == 1
    assert err[0].startswith(f"warning: --service-user {SERVICE_USER} is not the User=daemon")
    assert err[2].startswith("  line 10: folders[0].path: the service user nobody cannot use")


def test_a_group_the_machine_lacks_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    # systemd refuses to start the service (216/GROUP); the folders are checked without it.
    _shared(root)
    unit = _unit(root, "Group=faxd-test-no-such-group", f"SupplementaryGroups={GROUP} 4000000")
    code, err = _check_unit(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  {unit} (Group=faxd-test-no-such-group) names a group this machine does not have, "
        "so systemd would not start the service; create it (groupadd --system "
        "faxd-test-no-such-group) or correct it in the unit.",
        f"  {unit} (SupplementaryGroups=4000000) names a group this machine does not have, so "
        "systemd would not start the service; create it (groupadd --system --gid 4000000 "
        "NAME) or correct it in the unit.",
    ]
