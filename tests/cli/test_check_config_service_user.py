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
    capsys: pytest.CaptureFixture[str], root: Path, user: str = SERVICE_USER, *args: str
) -> tuple[int, list[str]]:
    argv = ["check-config", "--config", str(root / "faxd.yaml"), "--service-user", user, *args]
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
        "so the folders and files were checked only as root; create it (scripts/install.sh "
        "does), or name the unit's User= with --service-user."
    ]


def test_a_records_folder_the_service_user_cannot_write_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    account = _nobody()
    assert account is not None
    os.chown(root / "out", account.pw_uid, -1)
    # Made by `sudo faxd journal`: root's, where the daemon writes the journal and audit log.
    (root / "state" / "records").mkdir(mode=0o755)
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 1: state_dir: the service user nobody cannot use {root}/state/records "
        "(root:root, mode 0755): it lacks write (w) there; give the folder to that user "
        f"(chown nobody) or to a group it is in (chgrp, chmod g+rwx), or setfacl -m "
        f"u:nobody:rwx {root}/state/records."
    ]
    (root / "records").mkdir(mode=0o755)
    config = (root / "faxd.yaml").read_text()
    (root / "faxd.yaml").write_text(config + f"records:\n  path: {root}/records/fax\n")
    os.chown(root / "state" / "records", account.pw_uid, -1)
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 12: records.path: the service user nobody cannot create {root}/records/fax "
        f"in {root}/records (root:root, mode 0755): it lacks write (w) there; create it for "
        f"that user (install -d -o nobody -g nogroup -m 2770 {root}/records/fax)."
    ]


def _with_files(root: Path) -> None:
    """The provider's key, the mail password, the webhook's secret and a CA bundle in files
    of root's, each mode 0600 (as an admin's umask leaves them under /etc/faxd)."""
    for name in ("docs-key", "smtp-password", "hook-secret", "ca.pem"):
        (root / name).write_text(f"{name}-for-the-test\n")
        (root / name).chmod(0o600)
    account = _nobody()
    assert account is not None
    os.chown(root / "out", account.pw_uid, -1)
    config = (root / "faxd.yaml").read_text()
    config = config.replace("    api_key_env: DOCS_KEY\n", f"    api_key_file: {root}/docs-key\n")
    (root / "faxd.yaml").write_text(
        config + "channels:\n"
        "  mail:\n"
        "    type: smtp\n"
        "    host: mail.example.com\n"
        '    from: "Office fax <fax@example.com>"\n'
        "    username: faxd\n"
        f"    password_file: {root}/smtp-password\n"
        "  hook:\n"
        "    type: webhook\n"
        "    url: https://tickets.example.com/hooks/fax\n"
        f"    secret_file: {root}/hook-secret\n"
        f"    ca_bundle: {root}/ca.pem\n"
    )


def test_a_secret_or_ca_file_the_service_user_cannot_read_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    _with_files(root)
    account = _nobody()
    assert account is not None
    # Its group may read the webhook's secret: only the other three are said.
    os.chown(root / "hook-secret", 0, account.pw_gid)
    (root / "hook-secret").chmod(0o640)
    code, err = check_config(capsys, root)
    assert code == 1
    handed = (
        "have the unit hand it over (LoadCredential=) and name it here as "
        "${CREDENTIALS_DIRECTORY}/NAME, or let that user read it"
    )
    assert err[1:] == [
        f"  line 5: providers.docs.api_key_file: the service user nobody cannot read "
        f"{root}/docs-key (root:root, mode 0600): it lacks read (r) on it; {handed} (chgrp "
        f"nogroup and chmod g+r, or setfacl -m u:nobody:r {root}/docs-key).",
        f"  line 17: channels.mail.password_file: the service user nobody cannot read "
        f"{root}/smtp-password (root:root, mode 0600): it lacks read (r) on it; {handed} "
        f"(chgrp nogroup and chmod g+r, or setfacl -m u:nobody:r {root}/smtp-password).",
        f"  line 22: channels.hook.ca_bundle: the service user nobody cannot read "
        f"{root}/ca.pem (root:root, mode 0600): it lacks read (r) on it; let that user read "
        f"it (chgrp nogroup and chmod g+r, or setfacl -m u:nobody:r {root}/ca.pem).",
    ]


def test_a_credential_systemd_hands_over_is_not_checked(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    # As the README has it: CREDENTIALS_DIRECTORY=/etc/faxd/credentials, root's alone,
    # which LoadCredential= copies for the service user at each start. The CA bundle is
    # read where it is, so it is still checked.
    _with_files(root)
    credentials = root / "credentials"
    credentials.mkdir(mode=0o700)
    config = (root / "faxd.yaml").read_text()
    for name in ("docs-key", "smtp-password", "hook-secret"):
        (root / name).rename(credentials / name)
        config = config.replace(f"{root}/{name}", f"${{CREDENTIALS_DIRECTORY}}/{name}")
    (root / "faxd.yaml").write_text(config)
    argv = ["check-config", "--config", str(root / "faxd.yaml"), "--service-user", "nobody"]
    code = main(argv, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert [line.split(": the service user")[0] for line in err[1:]] == [
        "  line 22: channels.hook.ca_bundle"
    ]


def test_a_folder_closed_to_the_service_user_is_said_once_for_its_files(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    _with_files(root)
    secrets = root / "secrets"
    secrets.mkdir(mode=0o700)
    for name in ("docs-key", "smtp-password", "hook-secret", "ca.pem"):
        (root / name).rename(secrets / name)
        (secrets / name).chmod(0o644)
    config = (root / "faxd.yaml").read_text()
    for name in ("docs-key", "smtp-password", "hook-secret", "ca.pem"):
        config = config.replace(f"{root}/{name}", f"{secrets}/{name}")
    (root / "faxd.yaml").write_text(config)
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 5: providers.docs.api_key_file: the service user nobody cannot look into "
        f"{root}/secrets (root:root, mode 0700): it lacks search (x) there, so faxd cannot "
        "reach the folders and files below it; let it in (chmod o+x, g+x for a group it is "
        f"in, or setfacl -m u:nobody:x {root}/secrets)."
    ]


def test_a_configuration_the_service_user_cannot_read_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    # Written as root with umask 077: check-config said OK, and the service did not start.
    account = _nobody()
    assert account is not None
    os.chown(root / "out", account.pw_uid, -1)
    config = root / "faxd.yaml"
    config.chmod(0o600)
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  the service user nobody cannot read the configuration {config} (root:root, mode "
        "0600): it lacks read (r) on it, so faxd cannot start; let that user read it (chgrp "
        f"nogroup {config} and chmod 640 {config}, or setfacl -m u:nobody:r {config})."
    ]
    os.chown(config, 0, account.pw_gid)
    config.chmod(0o640)
    code, err = check_config(capsys, root)
    assert code == 0 and err[-1].endswith(": OK")


def test_a_configuration_in_a_folder_closed_to_the_service_user_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    account = _nobody()
    assert account is not None
    os.chown(root / "out", account.pw_uid, -1)
    etc = root / "etc"
    etc.mkdir(mode=0o700)
    (root / "faxd.yaml").rename(etc / "faxd.yaml")
    argv = ["check-config", "--config", str(etc / "faxd.yaml"), "--service-user", "nobody"]
    code = main(argv, environ={"DOCS_KEY": "docs-key-for-the-test"})
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[1:] == [
        f"  the service user nobody cannot look into {etc} (root:root, mode 0700): it lacks "
        "search (x) there, so faxd cannot reach the folders and files below it; let it in "
        f"(chmod o+x, g+x for a group it is in, or setfacl -m u:nobody:x {etc})."
    ]


def test_templates_the_service_user_cannot_read_are_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    account = _nobody()
    assert account is not None
    os.chown(root / "out", account.pw_uid, -1)
    templates = root / "templates"
    templates.mkdir(mode=0o711)  # nobody may enter it, not list it
    (templates / "notice.txt").write_text("Fax {{ document }}\n")
    (templates / "notice.txt").chmod(0o600)
    (templates / "notice.subject").write_text("Fax {{ document }}\n")
    (templates / "notice.subject").chmod(0o644)
    config = root / "faxd.yaml"
    config.write_text(config.read_text() + f"templates: {templates}\n")
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 11: templates: the service user nobody cannot list {templates} (root:root, "
        "mode 0711): it lacks read (r) there; let that user in (chgrp nogroup and chmod "
        f"g+rx, or setfacl -m u:nobody:rx {templates}).",
        f"  line 11: templates: the service user nobody cannot read {templates}/notice.txt "
        "(root:root, mode 0600): it lacks read (r) on it; let that user read it (chgrp "
        f"nogroup and chmod g+r, or setfacl -m u:nobody:r {templates}/notice.txt).",
    ]
    templates.chmod(0o755)
    (templates / "notice.txt").chmod(0o644)
    code, err = check_config(capsys, root)
    assert code == 0 and err[-1].endswith(": OK")


def _unit(root: Path, user: str) -> Path:
    unit = root / "faxd.service"
    unit.write_text(
        f"[Service]\nExecStart=/usr/local/bin/faxd run --config {root}/faxd.yaml\nUser={user}\n"
    )
    return unit


def test_the_folders_are_checked_as_the_units_user(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    # Checked as faxd whatever the unit said: OK, or a user the machine lacks.
    unit = _unit(root, SERVICE_USER)
    argv = ["check-config", "--config", str(root / "faxd.yaml"), "--unit", str(unit)]
    code = main(argv, environ={"DOCS_KEY": "docs-key-for-the-test"})
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[1].startswith(
        f"  line 10: folders[0].path: the service user nobody cannot use {root}/out"
    )
    # Also written as its uid.
    account = _nobody()
    assert account is not None
    _unit(root, str(account.pw_uid))
    code = main(argv, environ={"DOCS_KEY": "docs-key-for-the-test"})
    assert capsys.readouterr().err.splitlines()[1:] == err[1:]


def test_a_service_user_that_is_not_the_units_is_said_in_one_line(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    unit = _unit(root, SERVICE_USER)
    code, err = check_config(capsys, root, "root", "--unit", str(unit))
    assert code == 0
    assert err == [
        f"warning: --service-user root is not the User={SERVICE_USER} of {unit}; the folders "
        "and files were checked as root.",
        f"{root}/faxd.yaml: OK",
    ]
    # The same account by name and by uid is no difference.
    _unit(root, "0")
    assert check_config(capsys, root, "root", "--unit", str(unit)) == (0, [f"{root}/faxd.yaml: OK"])
