"""scripts/install.sh: syntax, shellcheck, and what --dry-run says it would do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "install.sh"
SYSTEM_PATHS = [
    Path("/etc/faxd"),
    Path("/srv/fax"),
    Path("/opt/faxd"),
    Path("/usr/local/bin/faxd"),
    Path("/etc/systemd/system/faxd.service"),
]


def _snapshot() -> dict[Path, bool]:
    return {path: path.exists() or path.is_symlink() for path in SYSTEM_PATHS}


def _dry_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--no-apt", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def _commands(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("+ ")]


def test_script_parses() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_is_clean() -> None:
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_dry_run_lists_every_step_and_changes_nothing() -> None:
    before = _snapshot()
    result = _dry_run()
    assert result.returncode == 0, result.stderr
    assert _snapshot() == before
    commands = _commands(result.stdout)

    for folder in ("out", "scanner", "inbox", "sent", "failed"):
        assert f"install -d -o faxd -g faxd -m 2770 /srv/fax/{folder}" in commands
    assert "install -d -o root -g faxd -m 0750 /etc/faxd" in commands
    assert "install -d -o root -g root -m 0700 /etc/faxd/credentials" in commands
    assert "ln -sfn /opt/faxd/bin/faxd /usr/local/bin/faxd" in commands
    assert f"/opt/faxd/bin/pip install --quiet --upgrade {ROOT}\\[systemd\\]" in commands
    assert (
        f"install -o root -g root -m 0644 {ROOT}/systemd/faxd.service "
        "/etc/systemd/system/faxd.service"
    ) in commands
    assert commands[-2:] == ["systemctl daemon-reload", "systemctl enable faxd.service"]
    # Enabled, never started: credentials and config are not filled in yet.
    assert not any("systemctl start" in c or "--now" in c for c in commands)
    assert "Next steps" in result.stdout


def test_existing_user_and_files_are_left_alone(tmp_path: Path) -> None:
    # A getent that finds everyone: the script must not try to create the user again.
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "getent").write_text("#!/bin/sh\nexit 0\n")
    (stub / "getent").chmod(0o755)
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}"}
    commands = _commands(_dry_run(env=env).stdout)
    assert not any(c.startswith(("groupadd", "useradd")) for c in commands)

    (stub / "getent").write_text("#!/bin/sh\nexit 2\n")
    commands = _commands(_dry_run(env=env).stdout)
    assert "groupadd --system faxd" in commands
    assert any(c.startswith("useradd --system --gid faxd") for c in commands)


def test_unknown_option_is_a_usage_error() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), "--frobnicate"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "unknown option '--frobnicate'" in result.stderr


def test_install_creates_every_folder_the_example_configuration_names() -> None:
    # faxd does not build a missing folder tree (it could be an unmounted share), so a
    # folder the example names but the install does not create stops `faxd run`.
    example = (ROOT / "config" / "faxd.example.yaml").read_text()
    named = set()
    for line in example.splitlines():
        value = line.split("#", 1)[0]
        named.update(re.findall(r"(/srv/fax/[\w./-]+)", value))
    assert named, "the example names no folder under /srv/fax"
    commands = _commands(_dry_run().stdout)
    for folder in sorted(named):
        assert f"install -d -o faxd -g faxd -m 2770 {folder}" in commands, folder
