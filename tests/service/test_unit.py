"""systemd/faxd.service: linted by systemd-analyze, hardened, and consistent with install.sh."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from faxd.host import systemd_unit

ROOT = Path(__file__).parents[2]
UNIT = ROOT / "systemd" / "faxd.service"
INSTALL = ROOT / "scripts" / "install.sh"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd)",
)


def _directives(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def _values(key: str) -> list[str]:
    return [v for k, v in _directives(UNIT.read_text()) if k == key]


def _verify(unit_text: str, tmp_path: Path) -> list[str]:
    """systemd-analyze verify on a copy of the unit; its complaints about that unit.

    verify insists that ExecStart's binary exists, and /usr/local/bin/faxd exists only
    after install.sh ran, so the copy runs an executable that is always there (true)."""
    copy = tmp_path / "faxd.service"
    copy.write_text(
        re.sub(r"^ExecStart=\S+", f"ExecStart={shutil.which('true')}", unit_text, flags=re.M)
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False
    )
    # On a host with systemd, verify may also comment on unrelated installed units.
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "faxd.service" in line or str(tmp_path) in line
    ]
    if result.returncode != 0:
        complaints.append(f"exit status {result.returncode}")
    return complaints


@needs_analyze
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    assert _verify(UNIT.read_text(), tmp_path) == []


@needs_analyze
def test_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    # Proves the check above can fail: an unknown directive is only a warning to systemd.
    broken = UNIT.read_text().replace("UMask=0007", "UMask=0007\nProtectEverything=yes")
    assert any("ProtectEverything" in line for line in _verify(broken, tmp_path))


@needs_analyze
def test_unit_exposure_is_at_most_2() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    match = re.search(r"Overall exposure level for faxd\.service: (\d+\.\d)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= 2.0
    assert result.returncode == 0, result.stderr


def test_unit_is_a_watched_notify_service_for_a_fixed_user() -> None:
    assert _values("Type") == ["notify"]
    assert _values("NotifyAccess") == ["main"]
    assert _values("WatchdogSec") == ["30"]
    assert _values("Restart") == ["on-failure"]
    assert _values("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert _values("User") == _values("Group") == ["faxd"]
    assert _values("DynamicUser") == []
    assert _values("StateDirectory") == ["faxd"]


def _install_variable(name: str) -> str:
    match = re.search(rf"^{name}=(.*)$", INSTALL.read_text(), flags=re.M)
    assert match, f"{name} is not set in install.sh"
    return match[1]


def test_unit_and_install_script_agree_on_paths() -> None:
    (exec_start,) = _values("ExecStart")
    assert exec_start == "/usr/local/bin/faxd run --config /etc/faxd/faxd.yaml"
    assert exec_start.split()[0] == _install_variable("BIN_LINK")
    assert _values("ReadWritePaths") == [_install_variable("SPOOL")]
    credentials = dict(v.split(":", 1) for v in _values("LoadCredential"))
    assert credentials == {
        "docs-api-key": "/etc/faxd/credentials/docs-api-key",
        "retarus-password": "/etc/faxd/credentials/retarus-password",
    }
    names = _install_variable("CREDENTIAL_NAMES").strip("()").split()
    assert sorted(names) == sorted(credentials)


def test_check_config_reads_where_the_unit_lets_faxd_write() -> None:
    sandbox = systemd_unit.from_file(UNIT)
    assert sandbox is not None
    assert [str(path) for path in sandbox.writable] == [
        _install_variable("SPOOL"),
        "/var/lib/faxd",  # StateDirectory=faxd
    ]  # not /tmp: PrivateTmp=yes gives faxd one of its own, which no office user sees
    assert sandbox.config == Path("/etc/faxd/faxd.yaml")
    # The service user's check asks as the unit runs it: its user and group faxd.
    assert (sandbox.user, sandbox.group, sandbox.supplementary) == ("faxd", "faxd", ())
