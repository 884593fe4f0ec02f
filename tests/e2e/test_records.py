"""The records from the real daemon: a report PDF beside the YAML report, yesterday's
activity journal at start-up, an audit log that verifies, and `faxd history`."""

from __future__ import annotations

import subprocess
from datetime import date, timedelta

import pytest

from faxd.cli import main

from .harness import Faxd, pdf, wait_for

pytestmark = pytest.mark.report_pdfs


def test_daemon_keeps_the_records(faxd: Faxd, capsys: pytest.CaptureFixture[str]) -> None:
    faxd.overrides["station_name"] = "Front desk"
    faxd.start()
    faxd.drop("+46812345678/invoice-4711.pdf", pdf("records"))
    report = faxd.report_for("invoice-4711.pdf")
    assert report["result"] == "delivered"
    target = faxd.sent / "+46812345678" / "invoice-4711.pdf.report.pdf"
    wait_for(target.exists, 60, "the report PDF")
    text = subprocess.run(
        ["pdftotext", str(target), "-"], capture_output=True, text=True, check=True
    ).stdout
    for word in ("+46812345678", "delivered", "Front desk", report["recipients"][0]["id"]):
        assert word in text
    yesterday = date.today() - timedelta(days=1)
    journal = faxd.state / "records" / f"{yesterday.year}" / f"{yesterday.isoformat()}.csv"
    wait_for(journal.exists, 30, "yesterday's activity journal")
    assert faxd.stop() == 0

    config = ["--config", str(faxd.config_path)]
    assert main(["audit", "verify", *config]) == 0
    assert main(["history", "+46812345678", *config]) == 0
    out = capsys.readouterr().out
    assert "invoice-4711.pdf" in out and str(target) in out
