"""A sent_dir/failed_dir/hold_dir under `defaults:` taken by several spool folders: each
folder files into a subfolder named after it, so the folder a document came from shows."""

from __future__ import annotations

from pathlib import Path

from faxd import config

from .cfg_helpers import MINIMAL, WriteConfig, load, problems

TWO = MINIMAL + "  - path: scanner\n"


def test_shared_defaults_give_each_folder_its_own_subfolder(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    text = TWO + "defaults:\n  sent_dir: /srv/fax/sent\n  failed_dir: /srv/fax/failed\n"
    out, scanner = load(write_config(text)).folders
    assert (out.sent_dir, scanner.sent_dir) == (
        Path("/srv/fax/sent/out"),
        Path("/srv/fax/sent/scanner"),
    )
    assert (out.failed_dir, scanner.failed_dir) == (
        Path("/srv/fax/failed/out"),
        Path("/srv/fax/failed/scanner"),
    )
    # hold beside the shared failed_dir is shared too: a subfolder each as well.
    assert (out.hold_folder, scanner.hold_folder) == (
        Path("/srv/fax/hold/out"),
        Path("/srv/fax/hold/scanner"),
    )
    assert set(out.filing_roots) == {
        Path("/srv/fax/sent"),
        Path("/srv/fax/failed"),
        Path("/srv/fax/hold"),
    }


def test_a_folders_own_value_and_a_default_used_once_are_taken_as_written(
    write_config: WriteConfig,
) -> None:
    text = TWO + "    sent_dir: /srv/scans\ndefaults:\n  sent_dir: /srv/fax/sent\n"
    out, scanner = load(write_config(text)).folders
    assert scanner.sent_dir == Path("/srv/scans")
    assert out.sent_dir == Path("/srv/fax/sent")  # the only folder taking the default
    assert out.filing_roots == ()


def test_two_spool_folders_of_one_name_are_a_problem_naming_the_key(
    write_config: WriteConfig,
) -> None:
    text = (
        MINIMAL
        + "  - path: other/out\n    failed_dir: /srv/own-failed\n"
        + "defaults:\n  sent_dir: /srv/fax/sent\n"
    )
    found = [p for p in problems(write_config(text)) if "also called 'out'" in p.message]
    assert [p.path for p in found] == ["folders[0]", "folders[1]"]
    assert all("set sent_dir on this folder" in p.message for p in found)


def test_a_missing_shared_root_under_an_existing_folder_is_no_problem(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    # sent/ does not exist yet: faxd creates it at start, then sent/out and sent/scanner.
    text = TWO + f"state_dir: state\ndefaults:\n  sent_dir: {tmp_path / 'sent'}\n"
    settings = load(write_config(text))
    assert settings.folders[0].sent_dir == tmp_path / "sent" / "out"
    assert config.check_environment(settings) == []


def test_shared_roots_under_a_missing_folder_are_said_once_each_at_their_own_key(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    # /nonexistent is missing: seven lines, all on sent_dir's, named one cause before.
    text = TWO + "defaults:\n  sent_dir: /nonexistent/sent\n  failed_dir: /nonexistent/failed\n"
    settings = load(write_config(text))
    (tmp_path / "out").mkdir(exist_ok=True)
    (tmp_path / "scanner").mkdir(exist_ok=True)
    found = [p for p in config.check_environment(settings) if "nonexistent" in p.message]
    assert [(p.path, p.message.split(" does not exist")[0]) for p in found] == [
        ("defaults.sent_dir", "/nonexistent/sent"),
        ("defaults.failed_dir", "/nonexistent/failed"),
        ("defaults.failed_dir", "/nonexistent/hold"),  # hold/ beside failed/
    ]
