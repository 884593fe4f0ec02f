"""`faxd check-config` holds the folders faxd writes to the unit's ReadWritePaths=: with
ProtectSystem=strict a folder outside them is read-only for the service, however its
owner and mode look. Real unit files in the test's folder; the installed unit comes from
a stand-in `systemctl` on PATH. The service user is root (uid 0 may use every folder;
the unit's User= and --service-user agree), so only the unit's paths can make a problem
here."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.cli import main

UNIT = """\
[Unit]
Description=faxd fax spool daemon

[Service]
Type=notify
ExecStart=/usr/local/bin/faxd run --config {config}
User=root
StateDirectory=faxd
# Sandbox: faxd reads its config and writes only its state and the fax folders.
ProtectSystem=strict
ReadWritePaths={fax}
"""


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return make_base(tmp_path)


def make_base(tmp_path: Path) -> Path:
    """The fax folders in fax/, the unit's ReadWritePaths=; the filed documents in
    archive/ and the records in records/, outside it."""
    for name in ("fax/out", "fax/state", "archive"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "faxd.yaml").write_text(
        f"state_dir: {tmp_path}/fax/state\n"
        "providers:\n"
        "  docs:\n"
        "    type: generic-docs\n"
        "    api_key_env: DOCS_KEY\n"
        "defaults:\n"
        f"  sent_dir: {tmp_path}/archive/sent\n"
        f"  failed_dir: {tmp_path}/archive/failed\n"
        "folders:\n"
        f"  - path: {tmp_path}/fax/out\n"
        "records:\n"
        f"  path: {tmp_path}/records\n"
    )
    return tmp_path


def write_unit(base: Path, config: Path | None = None, extra: str = "") -> Path:
    unit = base / "faxd.service"
    unit.write_text(UNIT.format(config=config or "/etc/faxd/faxd.yaml", fax=base / "fax") + extra)
    return unit


def check_config(
    capsys: pytest.CaptureFixture[str], base: Path, *args: str
) -> tuple[int, list[str]]:
    argv = ["check-config", "--config", str(base / "faxd.yaml"), "--service-user", "root", *args]
    code = main(argv, environ={"DOCS_KEY": "docs-key-for-the-test"})
    return code, capsys.readouterr().err.splitlines()


def read_only(path: str, source: str, places: str, advice: str) -> str:
    return (
        f"{path} is read-only for the service user root whatever its permissions: {source} "
        f"(ProtectSystem=strict) lets the service write only below {places}; {advice}."
    )


def test_a_folder_outside_the_unit_files_read_write_paths_is_a_problem(
    capsys: pytest.CaptureFixture[str], base: Path
) -> None:
    unit = write_unit(base)
    code, err = check_config(capsys, base, "--unit", str(unit))
    assert code == 1
    places = f"{base}/fax, /var/lib/faxd"

    def said(line: int, key: str, path: str) -> str:
        advice = f"add ReadWritePaths={base}/{path} to the unit"
        return f"  line {line}: {key}: " + read_only(f"{base}/{path}", str(unit), places, advice)

    # Each spool folder's own sent/ and failed/ lie inside the roots, named once.
    assert err[1:] == [
        said(7, "defaults.sent_dir", "archive/sent"),
        said(8, "defaults.failed_dir", "archive/failed"),
        said(8, "defaults.failed_dir", "archive/hold"),
        said(12, "records.path", "records"),
    ]
    # A drop-in, as `systemctl edit faxd` writes one: its lines count after the unit's.
    write_unit(base, extra=f"\n[Service]\nReadWritePaths={base}/archive \\\n  {base}/records\n")
    assert check_config(capsys, base, "--unit", str(unit))[0] == 0
    # An empty ReadWritePaths= drops what was said before it.
    write_unit(base, extra=f"\n[Service]\nReadWritePaths=\nReadWritePaths={base}/archive\n")
    code, err = check_config(capsys, base, "--unit", str(unit))
    assert code == 1
    assert [line.split(": ")[1] for line in err[1:]] == [
        "state_dir",
        "folders[0].path",
        "records.path",
    ]


def test_a_folder_reached_through_a_link_counts_where_it_leads(
    capsys: pytest.CaptureFixture[str], base: Path
) -> None:
    (base / "srv").mkdir()
    (base / "srv" / "fax").symlink_to(base / "fax")
    unit = write_unit(base, extra=f"ReadWritePaths={base}/archive -{base}/records\n")
    text = unit.read_text().replace(
        f"ReadWritePaths={base}/fax\n", f"ReadWritePaths={base}/srv/fax\n"
    )
    unit.write_text(text)
    code, err = check_config(capsys, base, "--unit", str(unit))
    assert code == 0, err


def test_a_unit_it_cannot_read_for_sure_is_not_guessed_at(
    capsys: pytest.CaptureFixture[str], base: Path
) -> None:
    unit = write_unit(base)
    assert check_config(capsys, base, "--unit", str(unit))[0] == 1
    # systemd would fill in %S (/var/lib); check-config does not pretend to.
    write_unit(base, extra="ReadWritePaths=%S/fax-archive\n")
    assert check_config(capsys, base, "--unit", str(unit))[0] == 0
    # Without ProtectSystem=strict the file system is not read-only for the service.
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=full"))
    assert check_config(capsys, base, "--unit", str(unit))[0] == 0


def test_a_unit_file_it_cannot_read_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], base: Path
) -> None:
    code, err = check_config(capsys, base, "--unit", str(base / "missing.service"))
    assert code == 2
    assert err == [
        f"faxd: check-config: the unit file {base}/missing.service cannot be read (No such "
        "file or directory). Name the unit file faxd runs under with --unit, or leave it out."
    ]


def test_the_installed_unit_counts_for_the_configuration_it_runs(
    capsys: pytest.CaptureFixture[str], base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `systemctl cat faxd.service` prints the unit and its drop-ins, each under a comment
    # naming its file.
    (base / "bin").mkdir()
    shown = base / "shown.service"
    systemctl = base / "bin" / "systemctl"
    systemctl.write_text(
        "#!/bin/sh\n"
        '[ "$*" = "cat --no-pager faxd.service" ] || exit 1\n'
        "echo '# /etc/systemd/system/faxd.service'\n"
        f"cat '{shown}'\n"
    )
    systemctl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{base / 'bin'}{os.pathsep}{os.environ['PATH']}")
    shown.write_text(write_unit(base, config=base / "faxd.yaml").read_text())
    code, err = check_config(capsys, base)
    assert code == 1
    assert err[1] == "  line 7: defaults.sent_dir: " + read_only(
        f"{base}/archive/sent",
        "faxd.service",
        f"{base}/fax, /var/lib/faxd",
        f"add it with systemctl edit faxd (ReadWritePaths={base}/archive/sent)",
    )
    # The installed unit runs /etc/faxd/faxd.yaml: a draft checked elsewhere is not held
    # to it.
    shown.write_text(write_unit(base).read_text())
    assert check_config(capsys, base)[0] == 0


@pytest.fixture
def home() -> Iterator[Path]:
    """A folder under /home, where ProtectHome= reaches (root may make one there)."""
    if not os.access("/home", os.W_OK):
        pytest.skip("needs a /home root may write in")
    folder = Path(tempfile.mkdtemp(prefix="faxd-protect-home-", dir="/home"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_protect_home_hides_what_lies_under_home_whatever_read_write_paths_says(
    capsys: pytest.CaptureFixture[str], base: Path, home: Path
) -> None:
    # The configuration, a spool folder and a CA bundle in an admin's home: the spool
    # folder was said to be fine (it is in ReadWritePaths=), and the service could not
    # even read its configuration.
    (home / "out").mkdir()
    (home / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    config = home / "faxd.yaml"
    config.write_text(
        (base / "faxd.yaml")
        .read_text()
        .replace(f"{base}/fax/out", f"{home}/out")
        .replace(f"{base}/archive", f"{base}/fax")
        .replace(f"{base}/records", f"{base}/fax/records")
        + "channels:\n  hook:\n    type: webhook\n    url: https://tickets.example.com/h\n"
        f"    ca_bundle: {home}/ca.pem\n"
    )
    unit = write_unit(base, extra=f"ReadWritePaths={home}\nProtectHome=yes\n")

    def check() -> tuple[int, list[str]]:
        argv = ["check-config", "--config", str(config), "--service-user", "root"]
        code = main([*argv, "--unit", str(unit)], environ={"DOCS_KEY": "docs-key-for-the-test"})
        return code, capsys.readouterr().err.splitlines()

    def hidden(path: str, setting: str, does: str, advice: str) -> str:
        return (
            f"{path} is hidden from the service user root whatever its permissions: {unit} "
            f"({setting}) {does} for the service; move it out of /home, or {advice} in the "
            "unit."
        )

    code, err = check()
    assert code == 1
    inaccessible = "makes /home inaccessible"
    assert err[1:] == [
        "  " + hidden(str(config), "ProtectHome=yes", inaccessible, "set ProtectHome=read-only"),
        "  line 10: folders[0].path: "
        + hidden(
            f"{home}/out",
            "ProtectHome=yes",
            inaccessible,
            f"set ProtectHome=read-only and ReadWritePaths={home}/out",
        ),
        "  line 17: channels.hook.ca_bundle: "
        + hidden(f"{home}/ca.pem", "ProtectHome=yes", inaccessible, "set ProtectHome=read-only"),
    ]
    # Without ProtectSystem=strict just the same.
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=full"))
    assert check()[1][1:] == err[1:]
    # read-only: what ReadWritePaths= names deeper is writable again, and nothing is hidden.
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHome=read-only"))
    assert check()[0] == 0
    unit.write_text(unit.read_text().replace(f"ReadWritePaths={home}\n", ""))
    code, err = check()
    assert err[1:] == [
        f"  line 10: folders[0].path: {home}/out is read-only for the service user root "
        f"whatever its permissions: {unit} (ProtectHome=read-only) makes /home read-only for "
        f"the service; add ReadWritePaths={home}/out to the unit."
    ]
    # tmpfs: an empty file system of the service's own, which only a bind reaches into.
    unit.write_text(unit.read_text().replace("ProtectHome=read-only", "ProtectHome=tmpfs"))
    code, err = check()
    empty = "puts an empty file system over /home"
    assert err[1:] == [
        "  "
        + hidden(
            str(config), "ProtectHome=tmpfs", empty, f"bind it in (BindReadOnlyPaths={config})"
        ),
        "  line 10: folders[0].path: "
        + hidden(f"{home}/out", "ProtectHome=tmpfs", empty, f"bind it in (BindPaths={home}/out)"),
        "  line 17: channels.hook.ca_bundle: "
        + hidden(
            f"{home}/ca.pem",
            "ProtectHome=tmpfs",
            empty,
            f"bind it in (BindReadOnlyPaths={home}/ca.pem)",
        ),
    ]
    with unit.open("a") as text:
        text.write(f"BindPaths={home}/out\nBindReadOnlyPaths={config} {home}/ca.pem\n")
    assert check()[0] == 0


def test_read_only_and_inaccessible_paths_inside_a_writable_one_are_problems(
    capsys: pytest.CaptureFixture[str], base: Path
) -> None:
    (base / "fax" / "state" / "records").mkdir()
    extra = (
        f"ReadWritePaths={base}/archive {base}/records\n"
        f"ReadOnlyPaths={base}/fax/state\n"
        f"ReadOnlyPaths={base}/archive\n"
        f"ReadWritePaths={base}/archive/sent\n"
        f"InaccessiblePaths=-{base}/fax/out\n"
    )
    unit = write_unit(base, extra=extra)
    code, err = check_config(capsys, base, "--unit", str(unit))
    assert code == 1
    assert err[1:] == [
        f"  line 1: state_dir: {base}/fax/state is read-only for the service user root "
        f"whatever its permissions: {unit} (ReadOnlyPaths={base}/fax/state) makes "
        f"{base}/fax/state read-only for the service; take it out of the unit's "
        "ReadOnlyPaths=.",
        f"  line 10: folders[0].path: {base}/fax/out is hidden from the service user root "
        f"whatever its permissions: {unit} (InaccessiblePaths={base}/fax/out) makes "
        f"{base}/fax/out inaccessible for the service; take it out of the unit's "
        "InaccessiblePaths=.",
        f"  line 8: defaults.failed_dir: {base}/archive/failed is read-only for the service "
        f"user root whatever its permissions: {unit} (ReadOnlyPaths={base}/archive) makes "
        f"{base}/archive read-only for the service; add ReadWritePaths={base}/archive/failed "
        "to the unit.",
        f"  line 8: defaults.failed_dir: {base}/archive/hold is read-only for the service "
        f"user root whatever its permissions: {unit} (ReadOnlyPaths={base}/archive) makes "
        f"{base}/archive read-only for the service; add ReadWritePaths={base}/archive/hold to "
        "the unit.",
    ]
