"""`faxd journal`, `faxd purge`, `faxd audit verify` and `faxd history` through the
command line, against a journal with filed jobs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from faxd import config
from faxd.cli import main
from faxd.clock import FakeClock, SystemClock
from faxd.service.daemon import open_journal
from faxd.service.records_keeper import RecordsKeeper
from tests.records.records_helpers import file_job, read_only, write_pdf

ENV = {"DOCS_KEY": "docs-key-for-tests"}


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "faxd.yaml"
    path.write_text(
        f"""\
state_dir: {tmp_path}/state
providers:
  docs: {{type: generic-docs, api_key_env: DOCS_KEY}}
defaults:
  sender: "+4612345678"
  sent_dir: {tmp_path}/sent
  failed_dir: {tmp_path}/failed
  station_name: Front desk
folders:
  - path: {tmp_path}/out
records:
  path: {tmp_path}/records
retention:
  sent: 0.5
""",
        encoding="utf-8",
    )
    settings = config.load(path, ENV)
    (tmp_path / "out").mkdir()
    journal = open_journal(settings)
    try:
        file_job(
            journal,
            settings,
            FakeClock(time.time() - 3600),  # filed an hour ago
            write_pdf(tmp_path / "out" / "a.pdf"),
            [True],
            job_id="ja",
        )
    finally:
        journal.close()
    return path


def run(cfg: Path, *args: str) -> int:
    return main([*args, "--config", str(cfg)], ENV)


def test_history_journal_and_audit(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = cfg.parent
    assert run(cfg, "journal") == 0
    assert run(cfg, "history", "+46812345670") == 0
    out = capsys.readouterr().out
    assert "a.pdf" in out and "delivered" in out and "remote-ja-0" in out
    assert run(cfg, "history", "08-123 456 70", "--since", "2000-01-01") == 0
    assert "a.pdf" in capsys.readouterr().out
    assert run(cfg, "history", "nothing-like-this") == 0
    assert "No transmissions" in capsys.readouterr().out
    assert run(cfg, "history", "a.pdf", "--since", "not-a-date") == 2
    capsys.readouterr()
    # An empty name is part of every name: a usage error, not the whole journal.
    assert run(cfg, "history", " ") == 2
    assert "a.pdf" not in capsys.readouterr().out

    assert run(cfg, "audit", "verify") == 0
    assert "intact" in capsys.readouterr().out
    (log,) = (root / "records" / "audit").glob("*.jsonl")
    text = log.read_text(encoding="utf-8").replace('"event":"filed"', '"event":"fixed"')
    log.write_text(text, encoding="utf-8")
    assert run(cfg, "audit", "verify") == 1
    assert "line " in capsys.readouterr().out


def draw_pending(cfg: Path) -> None:
    """The report PDFs a daemon would have drawn: retention removes them with the rest."""
    settings = config.load(cfg, ENV)
    journal = open_journal(settings)
    try:
        RecordsKeeper(settings, journal, SystemClock()).draw_pending()
    finally:
        journal.close()


def test_purge_dry_run_lists_what_purge_removes(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = cfg.parent
    draw_pending(cfg)
    assert run(cfg, "purge", "--dry-run") == 0
    listed = [line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines()[:-1]]
    assert sorted(Path(p).name for p in listed) == [
        "a.pdf",
        "a.pdf.report.pdf",
        "a.pdf.report.yaml",
    ]
    assert all(Path(p).exists() for p in listed)
    assert run(cfg, "purge") == 0
    assert not any(Path(p).exists() for p in listed)
    assert (root / "sent").is_dir()


def test_purge_counts_only_what_it_removed_and_says_what_it_left(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = cfg.parent
    draw_pending(cfg)
    filed = [root / "sent" / name for name in ("a.pdf", "a.pdf.report.pdf", "a.pdf.report.yaml")]
    with read_only(root / "sent"):
        assert run(cfg, "purge") == 1  # a script learns it did not do all it was asked
    out = capsys.readouterr().out.splitlines()
    assert all(p.exists() for p in filed)
    assert not any(line.startswith("removed") for line in out)
    left = sorted(line for line in out if line.startswith("left in place: "))
    assert [line.split(" (", 1)[0] for line in left] == [f"left in place: {p}" for p in filed]
    assert all("read-only" in line or "permission denied" in line for line in left)
    assert out[-1] == "0 file(s) removed, 3 left in place (looked at again at the next purge)."
    assert run(cfg, "purge") == 0  # the share writable again
    assert capsys.readouterr().out.splitlines()[-1] == "3 file(s) removed."
    assert not any(p.exists() for p in filed)


def test_journal_on_a_read_only_records_folder_names_the_journal_file(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = cfg.parent / "records"
    records.mkdir(exist_ok=True)
    with read_only(records):
        assert run(cfg, "journal", "--day", "2026-11-19") == 1
    err = capsys.readouterr().err
    # Besides the log's line for the audit events it could not copy there either:
    (said,) = [line for line in err.splitlines() if line.startswith("faxd: ")]
    assert said.startswith(f"faxd: activity journal not written: {records}/2026/2026-11-19.csv: ")
    assert "read-only" in said or "permission denied" in said
    assert "internal error" not in err and ".tmp" not in err


def test_journal_through_a_year_folder_swapped_for_a_link_names_the_journal_file(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = cfg.parent / "records"
    records.mkdir(exist_ok=True)
    (cfg.parent / "elsewhere").mkdir()
    (records / "2026").symlink_to(cfg.parent / "elsewhere", target_is_directory=True)
    assert run(cfg, "journal", "--day", "2026-11-19") == 1
    (said,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("faxd: ")]
    assert said.startswith(f"faxd: activity journal not written: {records}/2026/2026-11-19.csv: ")
    assert "symbolic link" in said
    assert not any((cfg.parent / "elsewhere").iterdir())


def test_history_lists_a_transmission_whose_document_is_not_filed_yet(
    cfg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = cfg.parent
    settings = config.load(cfg, ENV)
    journal = open_journal(settings)
    try:
        file_job(
            journal,
            settings,
            FakeClock(time.time() - 60),
            write_pdf(root / "out" / "waiting.pdf"),
            [False],
            job_id="jw",
            filed=False,  # finished; its failed/ folder is on a share that is down
        )
    finally:
        journal.close()
    assert run(cfg, "history", "+46812345670") == 0
    lines = capsys.readouterr().out.splitlines()
    (waiting,) = [line for line in lines if "waiting.pdf" in line]
    assert "failed" in waiting and "remote-jw-0" in waiting and "(not filed yet)" in waiting
    assert any("a.pdf" in line and "a.pdf.report" in line for line in lines)
