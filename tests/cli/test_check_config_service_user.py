"""`faxd check-config` run as root also checks the folders for the service user. Real
folders, owners and modes; the service user is `nobody` (named with --service-user), as
the suite makes no accounts of its own."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.cli import main

SERVICE_USER = "nobody"


def _nobody() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or _nobody() is None,
    reason="checks the folders for another user only when run as root; needs user nobody",
)


@pytest.fixture
def root() -> Iterator[Path]:
    """A folder nobody may look into (pytest's own are root-only): the state and filing
    folders nobody's, the spool folder `out` root's, mode 0755."""
    base = Path(tempfile.mkdtemp(prefix="faxd-service-user-", dir="/tmp"))
    try:
        base.chmod(0o755)
        account = _nobody()
        assert account is not None
        for name in ("state", "sent", "failed", "hold"):
            (base / name).mkdir(mode=0o770)
            os.chown(base / name, account.pw_uid, account.pw_gid)
        (base / "out").mkdir(mode=0o755)
        (base / "faxd.yaml").write_text(
            f"state_dir: {base}/state\n"
            "providers:\n"
            "  docs:\n"
            "    type: generic-docs\n"
            "    api_key_env: DOCS_KEY\n"
            "defaults:\n"
            f"  sent_dir: {base}/sent\n"
            f"  failed_dir: {base}/failed\n"
            "folders:\n"
            f"  - path: {base}/out\n"
        )
        yield base
    finally:
        shutil.rmtree(base)


def check_config(
    capsys: pytest.CaptureFixture[str], root: Path, user: str = SERVICE_USER
) -> tuple[int, list[str]]:
    argv = ["check-config", "--config", str(root / "faxd.yaml"), "--service-user", user]
    code = main(argv, environ={"DOCS_KEY": "docs-key-for-the-test"})
    return code, capsys.readouterr().err.splitlines()


def test_a_folder_the_service_user_cannot_write_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    # As root, os.access() said yes to every folder: OK, and the daemon then failed.
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 10: folders[0].path: the service user nobody cannot use {root}/out "
        "(root:root, mode 0755): it lacks write (w) there; give the folder to that user "
        "(chown nobody) or to a group it is in (chgrp, chmod g+rwx), or setfacl -m "
        f"u:nobody:rwx {root}/out."
    ]
    account = _nobody()
    assert account is not None
    os.chown(root / "out", account.pw_uid, -1)
    code, err = check_config(capsys, root)
    assert code == 0 and err[-1].endswith(": OK")


def test_a_group_or_an_acl_lets_the_service_user_in(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    account = _nobody()
    assert account is not None
    os.chown(root / "out", 0, account.pw_gid)
    (root / "out").chmod(0o2770)
    assert check_config(capsys, root)[0] == 0
    os.chown(root / "out", 0, 0)
    (root / "out").chmod(0o755)
    if shutil.which("setfacl") is None:
        pytest.skip("setfacl (package acl) is needed to give the folder an ACL")
    subprocess.run(["setfacl", "-m", "u:nobody:rwx", str(root / "out")], check=True)
    assert check_config(capsys, root)[0] == 0
    # The mask limits a named user's entry: r-x leaves it without w.
    subprocess.run(["setfacl", "-m", "m::rx", str(root / "out")], check=True)
    code, err = check_config(capsys, root)
    assert code == 1
    assert "(root:root, mode 0755, with an ACL): it lacks write (w) there" in err[1]


def test_a_folder_it_cannot_look_into_is_said_once(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    root.chmod(0o700)
    code, err = check_config(capsys, root)
    assert code == 1
    closed = f"the service user nobody cannot look into {root} (root:root, mode 0700)"
    assert [line for line in err if closed in line] == [err[1]]
    assert "it lacks search (x) there" in err[1]


def test_a_folder_it_cannot_create_is_named(capsys: pytest.CaptureFixture[str], root: Path) -> None:
    account = _nobody()
    assert account is not None
    os.chown(root / "out", account.pw_uid, -1)
    (root / "hold").rmdir()  # faxd makes it at start, beside failed/, in root's folder
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 8: defaults.failed_dir: the service user nobody cannot create {root}/hold "
        f"in {root} (root:root, mode 0755): it lacks write (w) there; create it for that "
        f"user (install -d -o nobody -g nogroup -m 2770 {root}/hold)."
    ]


def test_a_service_user_the_machine_lacks_is_one_warning(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    code, err = check_config(capsys, root, user="faxd-test-no-such-user")
    assert code == 0
    warnings = [line for line in err if line.startswith("warning:")]
    assert warnings == [
        "warning: the service user faxd-test-no-such-user does not exist on this machine, "
        "so the folders were checked only as root; create it (scripts/install.sh does), or "
        "name the unit's User= with --service-user."
    ]
