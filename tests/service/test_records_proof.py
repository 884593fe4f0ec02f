"""The records keeper's proof of transmission as a reader sees it (pdftotext): a held
document's proof says HELD and lists its recipients as the YAML report does, and the
times on a proof carry their UTC offset."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from faxd.clock import FakeClock
from faxd.core.job_payload import Hold, JobOptions
from faxd.core.recipient_screen import RELEASE_HINT
from faxd.outbound.archive import REPORT_KEY
from faxd.service.records_keeper import RecordsKeeper
from faxd.store.journal import Journal, NewJob
from tests.records.records_helpers import SENDER, file_job, pdf_text, settings_for, write_pdf

STOCKHOLM = "CET-1CEST,M3.5.0,M10.5.0/3"  # POSIX rule: no time zone database needed


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "state" / "journal.sqlite")
    yield journal
    journal.close()


@pytest.fixture
def stockholm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", STOCKHOLM)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _noon(day: int) -> float:
    return datetime(2026, 11, day, 12, 0, tzinfo=ZoneInfo("Europe/Stockholm")).timestamp()


def test_a_held_document_gets_a_proof_saying_held_with_its_recipients(
    tmp_path: Path, journal: Journal
) -> None:
    settings = settings_for(tmp_path)
    hold = tmp_path / "hold"
    hold.mkdir()
    spool = settings.folders[0].path
    near, other = "+46812345679", "+46855501234"
    reason = (
        f"{near} is neither a contact nor a number faxd has delivered to, but it is one "
        "slip (one digit changed) from Acme AB, +46812345678: did you mean Acme AB, "
        "+46812345678?"
    )
    document = write_pdf(hold / "order.pdf")
    report = hold / "order.pdf.report.yaml"
    report.write_text("result: held\n", encoding="utf-8")
    job = NewJob(
        id="job-held",
        folder=str(spool),
        rel_path="order.pdf",
        path=str(spool / "order.pdf"),
        sidecar=None,
        attachments=(),
        files=(),
        provider="docs",
        sender=SENDER,
        dft=False,
        reference="Order 17",
        rule="sidecar",
        options=JobOptions(
            sent_dir=str(settings.folders[0].sent_dir),
            failed_dir=str(settings.folders[0].failed_dir),
            hold_dir=str(hold),
            station_name="Reception",
            hold=Hold((near, other), {near: reason}),
        ),
        ino=None,
        received_at=_noon(20),
        numbers=(),
        error=f"{reason} {RELEASE_HINT}",
        hold=True,
    )
    journal.create_job(job)
    journal.set_archive_plan(
        job.id, {str(spool / "order.pdf"): str(document), REPORT_KEY: str(report)}
    )
    journal.mark_archived(job.id, str(document), _noon(20) + 1)
    assert RecordsKeeper(settings, journal, FakeClock(_noon(20) + 2)).draw_pending() == 1

    text = pdf_text(hold / "order.pdf.report.pdf")
    assert "RESULT: HELD" in text and "FAILED" not in text
    assert "faxd release job-held" in text  # what to do: release, or correct the address
    assert re.search(rf"^\s*{re.escape(near)}\s+held\s", text, re.MULTILINE), (
        "the held recipient's row"
    )
    assert re.search(rf"^\s*{re.escape(other)}\s+not sent\s", text, re.MULTILINE), "the other one's"
    assert "did you mean Acme AB" in text


def test_the_times_on_a_proof_carry_their_offset(
    tmp_path: Path, journal: Journal, stockholm: None
) -> None:
    settings = settings_for(tmp_path)
    spool = settings.folders[0].path
    spool.mkdir(parents=True)
    clock = FakeClock(_noon(20))
    filed = file_job(journal, settings, clock, write_pdf(spool / "a.pdf"), [True], job_id="j1")
    RecordsKeeper(settings, journal, clock).draw_pending()
    text = " ".join(pdf_text(filed.with_name("a.pdf.report.pdf")).split())
    assert "Picked up 2026-11-20 12:00:00 +01:00" in text
    assert "Finished 2026-11-20 12:00:30 +01:00" in text
    assert "12:00:30 +01:00" in text.split("Recipient", 1)[1]  # the table's final time
