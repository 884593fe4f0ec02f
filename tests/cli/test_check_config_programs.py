"""`faxd check-config` checks the program each command channel runs: there and executable
for faxd's user, as root also for the service user (`nobody`, as in
test_check_config_service_user.py), and not hidden by the unit's sandbox. Real files, a
real noexec mount and real unit files; nothing is run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.cli import main
from tests.real_mounts import RealMounts, real_mounts

from .test_check_config_service_user import _nobody, check_config
from .test_check_config_service_user import pytestmark as as_root
from .test_check_config_service_user import root as root
from .test_check_config_unit import base as base
from .test_check_config_unit import home as home
from .test_check_config_unit import write_unit

pytestmark = as_root


@pytest.fixture
def mounts() -> Iterator[RealMounts]:
    yield from real_mounts()


def _runs(config: Path, program: str) -> None:
    """A command channel running `program` (a ticket system's client, say)."""
    config.write_text(
        config.read_text() + "channels:\n"
        "  ticket:\n"
        "    type: command\n"
        f'    argv: ["{program}", "{{event}}", "--", "{{document}}"]\n'
    )


def _program(path: Path, mode: int, text: str = "\x7fELF not run by the tests\n") -> Path:
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def _for_nobody(root: Path) -> None:
    account = _nobody()
    assert account is not None
    os.chown(root / "out", account.pw_uid, -1)


def test_a_program_that_is_missing_or_not_executable_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    # check-config said OK, and every ticket failed with "cannot run … (No such file…)".
    _for_nobody(root)
    program = root / "bin" / "ticket"
    _runs(root / "faxd.yaml", str(program))
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 14: channels.ticket.argv: the program {program} does not exist or is not a "
        "file; install it there, or correct the path in argv."
    ]
    _program(program, 0o644)
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 14: channels.ticket.argv: the program {program} is not executable by "
        f"faxd's user (uid 0): it is root:root, mode 0644; make it executable (chmod +x "
        f"{program})."
    ]
    program.chmod(0o755)
    assert check_config(capsys, root)[0] == 0
    # A program a message names is known only then.
    config = root / "faxd.yaml"
    config.write_text(config.read_text().replace(str(program), f"{root}/missing/{{event}}"))
    assert check_config(capsys, root)[0] == 0


def test_a_program_on_a_noexec_file_system_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path, mounts: RealMounts
) -> None:
    # access() says no there, as execve() does: chmod +x would not help.
    _for_nobody(root)
    mounts.tmpfs(root / "media")
    subprocess.run(["mount", "-o", "remount,noexec", str(root / "media")], check=True)
    program = _program(root / "media" / "ticket", 0o755)
    _runs(root / "faxd.yaml", str(program))
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 14: channels.ticket.argv: the program {program} is on a file system mounted "
        "noexec, where nothing may be run; put it elsewhere (/usr/local/bin), or remount "
        "that file system without noexec."
    ]


def test_a_program_the_service_user_cannot_run_is_a_problem(
    capsys: pytest.CaptureFixture[str], root: Path
) -> None:
    # Installed by root with umask 077: root may run it, the service may not.
    _for_nobody(root)
    program = _program(root / "bin" / "ticket", 0o700)
    _runs(root / "faxd.yaml", str(program))
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 14: channels.ticket.argv: the service user nobody cannot run the program "
        f"{program} (root:root, mode 0700): it lacks execute (x) on it; let that user run "
        f"it (chgrp nogroup and chmod g+x, or setfacl -m u:nobody:x {program})."
    ]
    program.chmod(0o711)  # execute is all a program asks
    assert check_config(capsys, root)[0] == 0
    # A script is read by its interpreter, as the service user.
    _program(program, 0o711, "#!/bin/sh\nexit 0\n")
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1:] == [
        f"  line 14: channels.ticket.argv: the service user nobody cannot run the script "
        f"{program} (root:root, mode 0711): it lacks read (r) on it; let that user run it "
        f"(chgrp nogroup and chmod g+rx, or setfacl -m u:nobody:rx {program})."
    ]
    program.chmod(0o755)
    assert check_config(capsys, root)[0] == 0
    (root / "bin").chmod(0o700)
    code, err = check_config(capsys, root)
    assert code == 1
    assert err[1].startswith(
        f"  line 14: channels.ticket.argv: the service user nobody cannot look into "
        f"{root}/bin (root:root, mode 0700)"
    )


def test_a_program_the_unit_hides_is_a_problem(
    capsys: pytest.CaptureFixture[str], base: Path, home: Path
) -> None:
    program = _program(home / "ticket", 0o755)
    _runs(base / "faxd.yaml", str(program))
    extra = f"ReadWritePaths={base}/archive {base}/records\nProtectHome=yes\n"
    unit = write_unit(base, extra=extra)
    argv = ["check-config", "--config", str(base / "faxd.yaml"), "--service-user", "root"]
    code = main([*argv, "--unit", str(unit)], environ={"DOCS_KEY": "docs-key-for-the-test"})
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[1:] == [
        f"  line 16: channels.ticket.argv: {program} is hidden from the service user root "
        f"whatever its permissions: {unit} (ProtectHome=yes) makes /home inaccessible for "
        "the service; move it out of /home, or set ProtectHome=read-only in the unit."
    ]
