"""`faxd history`, `faxd journal`, `faxd audit verify` and `faxd purge` with arguments or
journals they cannot use, and names that could forge lines: one sentence, never a
traceback, and `history DOCUMENT` matching document names only."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from faxd import config
from faxd.cli import main
from faxd.clock import FakeClock, SystemClock
from faxd.service.daemon import open_journal
from faxd.service.records_keeper import RecordsKeeper
from tests.records.records_helpers import file_job, write_pdf

ENV = {"DOCS_KEY": "docs-key-for-tests"}
EVIL = "nl\nBcc: evil@attacker.com\nX: y.pdf"


def _config(root: Path) -> Path:
    path = root / "faxd.yaml"
    path.write_text(
        f"""\
state_dir: {root}/state
providers:
  docs: {{type: generic-docs, api_key_env: DOCS_KEY}}
defaults:
  sender: "+4612345678"
  sent_dir: {root}/sent
  failed_dir: {root}/failed
folders:
  - path: {root}/spool
records:
  path: {root}/records
retention:
  sent: 0.5
""",
        encoding="utf-8",
    )
    (root / "spool").mkdir()
    return path


def _file(cfg: Path, names: dict[str, str], *, checksums: bool = False) -> None:
    """File one delivered job per document name (job id: name), an hour ago; with
    `checksums` its records are made too, so that retention may purge it."""
    settings = config.load(cfg, ENV)
    journal = open_journal(settings)
    try:
        for job_id, name in names.items():
            source = write_pdf(cfg.parent / "spool" / name, pages=1)
            file_job(
                journal, settings, FakeClock(time.time() - 3600), source, [True], job_id=job_id
            )
        if checksums:
            RecordsKeeper(settings, journal, SystemClock()).draw_pending()
    finally:
        journal.close()


def run(capsys: pytest.CaptureFixture[str], cfg: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(cfg)], ENV)
    out, err = capsys.readouterr()
    return code, out, err


def _one_sentence(err: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_history_matches_document_names_only_and_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    _file(cfg, {"ja": "Offer.pdf", "jb": "100%_sure.pdf"})
    found = {}
    for target in ("%", "_", "spool", "sent", "offer", "Offer", "%_s", "Offer.pdf"):
        code, out, err = run(capsys, cfg, "history", target)
        assert code == 0, err
        found[target] = {n for n in ("Offer.pdf", "100%_sure.pdf") if n in out}
    assert found["%"] == found["%_s"] == {"100%_sure.pdf"}  # wildcards are letters
    assert found["_"] == {"100%_sure.pdf"}
    assert found["spool"] == found["sent"] == set()  # folder names are not the name
    assert found["offer"] == set()  # case-sensitive, as for received documents
    assert found["Offer"] == found["Offer.pdf"] == {"Offer.pdf"}


def test_history_and_audit_on_a_damaged_journal_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    journal = state / "journal.sqlite"
    journal.write_bytes(b"this is not a database, it only lies where one should be" * 100)
    for args in (("history", "+46812345678"), ("history", "offer"), ("audit", "verify")):
        code, _, err = run(capsys, cfg, *args)
        assert code == 1, (args, err)
        _one_sentence(err)
        assert "is damaged" in err, err
    journal.unlink()
    journal.mkdir()
    for args in (("history", "offer"), ("audit", "verify")):
        code, _, err = run(capsys, cfg, *args)
        assert code == 1, (args, err)
        _one_sentence(err)
        assert "cannot be opened" in err, err


def test_a_day_out_of_range_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    _file(cfg, {"ja": "a.pdf"})
    for args in (("journal", "--day", "9999-12-31"), ("history", "a.pdf", "--since", "0001-01-01")):
        code, _, err = run(capsys, cfg, *args)
        assert code == 2, (args, err)
        _one_sentence(err)
        assert args[2] in err
    code, out, err = run(capsys, cfg, "history", "a.pdf", "--since", "2000-01-01")
    assert code == 0 and "a.pdf" in out, err


def test_purge_shows_a_name_with_line_breaks_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    _file(cfg, {"ja": EVIL}, checksums=True)
    code, out, err = run(capsys, cfg, "purge", "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert not any(line.startswith(("Bcc:", "X:")) for line in lines), out
    assert any("nl\\x0aBcc: evil@attacker.com\\x0aX: y.pdf" in line for line in lines), out
    assert lines[-1] == f"{len(lines) - 1} file(s) would be removed."
    assert (tmp_path / "sent" / EVIL).exists()
    code, out, err = run(capsys, cfg, "purge")
    assert code == 0, err
    assert out.splitlines()[-1].endswith("file(s) removed.")
    assert not (tmp_path / "sent" / EVIL).exists()
    code, out, err = run(capsys, cfg, "purge", "--dry-run")
    assert out.strip() == "0 file(s) would be removed."


def test_a_state_dir_that_is_a_file_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path)
    (tmp_path / "state").write_text("not a folder\n")
    for args in (("status",), ("history", "offer"), ("audit", "verify")):
        code, out, err = run(capsys, cfg, *args)
        assert code == 2, (args, out, err)
        _one_sentence(err)
        assert "not a directory" in err and "No journal" not in out
