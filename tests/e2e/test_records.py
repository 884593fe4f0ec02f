"""The records from the real daemon: a report PDF beside the YAML report, yesterday's
activity journal at start-up, an audit log that verifies, and `faxd history`."""

from __future__ import annotations

import csv
import subprocess
from datetime import date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path

import pytest

from faxd.cli import main
from faxd.store.journal import Journal
from tests.records.records_helpers import record_received

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


def _received_yesterday(faxd: Faxd, pages: int) -> Path:
    """A document received yesterday at noon, in the journal and the inbox folder."""
    when = datetime.combine(date.today() - timedelta(days=1), day_time(12)).astimezone()
    journal = Journal(faxd.state / "journal.sqlite")
    try:
        return record_received(
            journal, faxd.root / "inbox", "+4940123456", when.timestamp(), pages=pages
        )
    finally:
        journal.close()


def test_the_daemon_counts_received_pages_outside_its_own_process(faxd: Faxd) -> None:
    """A received document comes from outside: its pages are counted by the drawing
    helper, so the PDF engine is never loaded into the daemon (a document that crashes
    it would otherwise stop faxd)."""
    received = _received_yesterday(faxd, pages=3)
    faxd.start()
    yesterday = date.today() - timedelta(days=1)
    journal = faxd.state / "records" / f"{yesterday.year}" / f"{yesterday.isoformat()}.csv"
    wait_for(journal.exists, 60, "yesterday's activity journal")
    assert faxd.proc is not None
    maps = Path(f"/proc/{faxd.proc.pid}/maps").read_text()
    assert "pdfium" not in maps, "the PDF engine was loaded into the daemon"
    with journal.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["direction"], r["document"], r["pages"]) for r in rows] == [
        ("received", received.name, "3")
    ]
    assert faxd.stop() == 0
