"""`faxd retry` of a document whose spool folder faxd no longer watches: refused, and the
document stays in failed/, rather than put back where nothing would ever send it while
the command said faxd would."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from faxd.cli import main
from faxd.sandbox.server import SandboxServer
from faxd.service.daemon import JOURNAL_NAME

from ..e2e.harness import Faxd, pdf
from .test_cli_retry_race import failed_document


def test_a_retry_into_a_folder_no_longer_configured_is_refused(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer
) -> None:
    failed = failed_document(setup, sandbox)
    elsewhere = setup.root / "elsewhere"
    elsewhere.mkdir()
    setup.folders = [{"path": str(elsewhere)}]  # the old spool folder was taken out
    setup.write_config()
    assert main(["retry", failed, "--config", str(setup.config_path)], environ={}) == 2
    err = capsys.readouterr().err
    assert f"came from {setup.spool}, which is no longer a spool folder" in err
    assert "from failed/ into a spool folder yourself" in err
    assert (setup.failed / "+46812345678" / "twice.pdf").exists()
    assert not (setup.spool / "+46812345678" / "twice.pdf").exists()


def test_a_retry_never_moves_a_file_in_through_a_linked_folder(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer
) -> None:
    # Someone who may write in failed/ swaps the recipient's folder for a link to a folder
    # holding a file of the document's name: a retry would put it in the spool, to be sent.
    failed = Path(failed_document(setup, sandbox))
    job_id = yaml.safe_load(failed.with_name("twice.pdf.report.yaml").read_text())["job"]
    private = setup.root / "private"
    private.mkdir()
    (private / "twice.pdf").write_bytes(pdf("a private document"))
    failed.parent.rename(setup.root / "aside")
    failed.parent.symlink_to(private, target_is_directory=True)
    argv = ["retry", job_id, "--config", str(setup.config_path)]
    assert main(argv, environ={}) == 1
    err = capsys.readouterr().err
    assert "nothing was moved" in err and "without following a link" in err
    assert not (setup.spool / "+46812345678" / "twice.pdf").exists()
    assert (private / "twice.pdf").read_bytes() == pdf("a private document")
    failed.parent.unlink()
    (setup.root / "aside").rename(failed.parent)
    assert main(argv, environ={}) == 0
    assert (setup.spool / "+46812345678" / "twice.pdf").read_bytes() == pdf("retry race")


def test_a_report_swapped_for_a_link_is_not_copied_into_the_history(
    setup: Faxd, sandbox: SandboxServer
) -> None:
    # The failed report is kept for the next report's history: a link in its place would
    # copy whatever file it leads to (faxd's configuration) into a report in sent/.
    failed = Path(failed_document(setup, sandbox))
    report = failed.with_name("twice.pdf.report.yaml")
    job_id = yaml.safe_load(report.read_text())["job"]
    secret = setup.root / "secret.yaml"
    secret.write_text("api_key: not-for-reports\n")
    report.unlink()
    report.symlink_to(secret)
    assert main(["retry", job_id, "--config", str(setup.config_path)], environ={}) == 0
    db = sqlite3.connect(setup.state / JOURNAL_NAME)
    try:
        [(kept,)] = db.execute("SELECT report FROM retries WHERE job_id = ?", (job_id,))
    finally:
        db.close()
    assert kept is None
    assert secret.read_text() == "api_key: not-for-reports\n"
