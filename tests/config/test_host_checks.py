"""check_environment(): what the machine must allow for the configuration to work."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from faxd import config
from faxd.config import host_checks as config_env
from faxd.settings import Settings

from .cfg_helpers import MINIMAL, load

WriteConfig = Callable[[str], Path]


def settings_for(write_config: WriteConfig, extra: str = "") -> Settings:
    return load(write_config(MINIMAL + extra + "state_dir: state\n"))


def test_a_fresh_setup_with_creatable_folders_passes(write_config: WriteConfig) -> None:
    assert config.check_environment(settings_for(write_config)) == []


def test_check_environment_creates_nothing(write_config: WriteConfig, tmp_path: Path) -> None:
    config.check_environment(settings_for(write_config))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faxd.yaml"]


def test_a_file_where_a_folder_should_be(write_config: WriteConfig, tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    (tmp_path / "state").write_text("")
    found = config.check_environment(settings_for(write_config))
    by_path = {p.path: p for p in found}
    assert by_path["folders[0].path"].line == 6
    assert "is not a directory" in by_path["folders[0].path"].message
    assert "state_dir" in by_path
    # sent/ and failed/ inside the file cannot be created either; the default sent_dir is
    # reported at the folder's path, as it was not written anywhere.
    assert {p.path for p in found} == {"state_dir", "folders[0].path"}
    assert len(found) == 4


def test_an_unwritable_parent(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    settings = settings_for(write_config, "  - path: locked/spool\n")
    real_access = os.access

    def access(path: object, mode: int) -> bool:
        # Simulated, so the test also means something when run as root.
        return Path(str(path)) != locked and real_access(str(path), mode)

    monkeypatch.setattr(os, "access", access)
    found = config.check_environment(settings)
    assert {p.path for p in found} == {"folders[1].path"}
    assert len(found) == 3  # the spool, its sent/ and its failed/
    assert all("cannot be created" in p.message and str(locked) in p.message for p in found)


def test_an_unwritable_folder(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "out").mkdir()
    settings = settings_for(write_config)
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode: Path(str(path)).name != "out" and real_access(str(path), mode),
    )
    found = config.check_environment(settings)
    assert [(p.path, p.line) for p in found] == [("folders[0].path", 6)] * 3
    assert "out is not writable" in found[0].message
    assert "sent does not exist and cannot be created" in found[1].message


def test_archive_on_another_filesystem_is_reported(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(write_config, "    sent_dir: /mnt/other/sent\n")
    real = config_env.device_of

    def device_of(path: Path) -> int:
        return -1 if str(path).startswith("/mnt/other") else real(path)

    monkeypatch.setattr(config_env, "device_of", device_of)
    monkeypatch.setattr(config_env, "directory_problem", lambda path: None)
    monkeypatch.setattr(config_env, "creatable_problem", lambda *args: None)
    found = config.check_environment(settings)
    assert [(p.path, p.line) for p in found] == [("folders[0].sent_dir", 7)]
    assert "EXDEV" in found[0].message
    assert "/mnt/other/sent" in found[0].message


def test_default_archive_on_another_filesystem_names_defaults(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(write_config, "defaults:\n  failed_dir: /mnt/other/failed\n")
    monkeypatch.setattr(config_env, "device_of", lambda path: hash(str(path).startswith("/mnt")))
    monkeypatch.setattr(config_env, "directory_problem", lambda path: None)
    monkeypatch.setattr(config_env, "creatable_problem", lambda *args: None)
    found = config.check_environment(settings)
    assert [(p.path, p.line) for p in found] == [("defaults.failed_dir", 8)]


def test_real_filesystems_differ(write_config: WriteConfig, tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm here")
    if os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("/dev/shm and tmp_path are on the same filesystem here")
    settings = settings_for(write_config, f"    failed_dir: {shm}/failed-{os.getpid()}\n")
    found = config.check_environment(settings)
    assert [p.path for p in found] == ["folders[0].failed_dir"]


def test_inbox_route_on_another_filesystem(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "inbox:\n  path: in\n  routes: {'+4612345679': /mnt/x}\n"
    settings = settings_for(write_config, text)
    monkeypatch.setattr(config_env, "device_of", lambda path: hash(str(path).startswith("/mnt")))
    monkeypatch.setattr(config_env, "directory_problem", lambda path: None)
    monkeypatch.setattr(config_env, "creatable_problem", lambda *args: None)
    found = config.check_environment(settings)
    assert [p.path for p in found] == ["inbox.routes"]


def test_a_credential_file_that_disappeared(write_config: WriteConfig, tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("secret-canary\n")
    settings = load(
        write_config(
            MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_file: key") + "state_dir: s\n"
        )
    )
    assert config.check_environment(settings) == []
    key.unlink()
    found = config.check_environment(settings)
    assert [(p.path, p.line) for p in found] == [("providers.docs.api_key_file", 4)]
    assert "secret-canary" not in str(found[0])


def test_a_missing_ca_bundle(write_config: WriteConfig) -> None:
    settings = load(
        write_config(
            MINIMAL.replace("api_key_env: DOCS_KEY", "api_key_env: DOCS_KEY\n    ca_bundle: ca.pem")
            + "state_dir: s\n"
        )
    )
    found = config.check_environment(settings)
    assert [p.path for p in found] == ["providers.docs.ca_bundle"]
    assert "CA bundle" in found[0].message


def test_lines_are_omitted_when_the_file_no_longer_parses(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "out").write_text("")
    settings = settings_for(write_config)
    settings.source.write_text("::: not yaml [")
    found = config.check_environment(settings)
    assert found and all(p.line is None for p in found)


def test_a_spool_folder_whose_parent_is_missing_too_is_refused(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    settings = settings_for(write_config, "  - path: share/abroad\n")
    found = [p for p in config.check_environment(settings) if p.path == "folders[1].path"]
    assert found[0].line == 7
    assert "nor does the folder" in found[0].message
    assert str(tmp_path / "share") in found[0].message
    assert "mkdir -p" in found[0].message
    # Its parent there: faxd creates it at start (the default sent/ and failed/ inside it
    # with it), so it is no problem.
    (tmp_path / "share").mkdir()
    assert config.check_environment(settings) == []


def test_a_sent_dir_two_levels_under_nothing_is_refused(write_config: WriteConfig) -> None:
    found = config.check_environment(settings_for(write_config, "    sent_dir: nas/fax/sent\n"))
    assert [p.path for p in found] == ["folders[0].sent_dir"]
    assert "nor does the folder" in found[0].message


def test_a_hold_folder_faxd_cannot_create_is_named(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scripts/install.sh made sent/ and failed/ under a root:faxd 0750 /srv/fax, and not
    # hold/: check-config said OK, and `faxd run` stopped with an internal error.
    srv = tmp_path / "srv"
    for name in ("out", "sent", "failed"):
        (srv / name).mkdir(parents=True)
    settings = load(
        write_config(
            "providers:\n  docs:\n    type: generic-docs\n    api_key_env: DOCS_KEY\n"
            f"defaults:\n  sent_dir: {srv}/sent\n  failed_dir: {srv}/failed\n"
            f"folders:\n  - path: {srv}/out\nstate_dir: state\n"
        )
    )
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(str(path)) != srv and real_access(str(path), mode)
    )
    found = config.check_environment(settings)
    assert [p.path for p in found] == ["defaults.failed_dir"]
    assert f"{srv}/hold does not exist and cannot be created" in found[0].message
    (srv / "hold").mkdir()
    assert config.check_environment(settings) == []


def test_a_records_folder_faxd_cannot_create_or_write_is_refused_like_a_spool_folder(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not checked at start: the audit log stopped later, said only in the log.
    settings = settings_for(write_config, "records:\n  path: nas/fax/records\n")
    found = config.check_environment(settings)
    assert [(p.path, p.line) for p in found] == [("records.path", 8)]
    assert f"{tmp_path}/nas/fax/records does not exist, nor does the folder" in found[0].message
    (tmp_path / "nas" / "fax").mkdir(parents=True)
    assert config.check_environment(settings) == []
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(str(path)).name != "fax" and real_access(path, mode)
    )
    found = config.check_environment(settings)
    assert [p.path for p in found] == ["records.path"]
    assert "records does not exist and cannot be created" in found[0].message


def test_the_default_records_folder_is_checked_inside_state_dir(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "records").write_text("")
    found = config.check_environment(settings_for(write_config))
    assert [(p.path, p.line) for p in found] == [("state_dir", 7)]
    assert f"{tmp_path}/state/records is not a directory" in found[0].message
    # A state_dir that is unusable itself is said once, not again for its records.
    (tmp_path / "state" / "records").unlink()
    (tmp_path / "state").rmdir()
    (tmp_path / "state").write_text("")
    found = config.check_environment(settings_for(write_config))
    assert [p.path for p in found] == ["state_dir"]


def test_a_channels_ca_bundle_that_cannot_be_read_is_refused_like_a_providers(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    channels = (
        "channels:\n"
        "  mail:\n"
        "    type: smtp\n"
        "    host: mail.example.com\n"
        "    from: fax@example.com\n"
        "    ca_bundle: mail-ca.pem\n"
        "  hook:\n"
        "    type: webhook\n"
        "    url: https://tickets.example.com/hook\n"
        "    ca_bundle: hook-ca.pem\n"
    )
    (tmp_path / "hook-ca.pem").mkdir()
    found = config.check_environment(settings_for(write_config, channels))
    assert [(p.path, p.line) for p in found] == [
        ("channels.mail.ca_bundle", 12),
        ("channels.hook.ca_bundle", 16),
    ]
    assert found[0].message == (
        f"CA bundle {tmp_path}/mail-ca.pem does not exist or is not a file; correct the path."
    )
    (tmp_path / "mail-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "hook-ca.pem").rmdir()
    (tmp_path / "hook-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert config.check_environment(settings_for(write_config, channels)) == []
