"""The records keeper against a real journal: report PDFs as a reader sees them (poppler
renders them), the daily activity journal, retention with a fake clock, and the audit
log fed from the journal's outbox."""

from __future__ import annotations

import csv
import dataclasses
import os
import resource
import shutil
import subprocess
import threading
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from faxd.clock import FakeClock
from faxd.core.outbox_payload import NoticePayload
from faxd.host import fsops
from faxd.host.fsops import file_sha256
from faxd.notices.worker import OutboxWorker, build_channel
from faxd.records.audit_log import AuditLog
from faxd.records.making import Made
from faxd.service.records_activity import FILING_WAIT_DAYS
from faxd.service.records_keeper import MAX_DEFER, RecordsKeeper
from faxd.settings import RetentionSettings, Settings, WebhookChannel
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox
from tests.channels.servers import WebhookReceiver
from tests.records.records_helpers import (
    SENDER,
    archive_job,
    dark_share,
    file_job,
    pdf_text,
    read_only,
    record_received,
    render,
    settings_for,
    thumbnail_region,
    write_pdf,
    write_tiff,
)

DAY = 86400.0


@pytest.fixture
def clock() -> FakeClock:
    # Noon local time, so "today" and "yesterday" do not depend on the time zone.
    return FakeClock(datetime(2026, 11, 20, 12, 0).astimezone().timestamp())


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state" / "journal.sqlite")


def _spool(settings: Settings) -> Path:
    spool = settings.folders[0].path
    spool.mkdir(parents=True, exist_ok=True)
    return spool


def _report_for(document: Path) -> Path:
    return document.with_name(f"{document.name}.report.pdf")


def _check_report(tmp_path: Path, document: Path, words: list[str], *, thumbnail: bool) -> str:
    pdf = _report_for(document)
    assert pdf.is_file()
    pages = render(pdf, tmp_path)
    assert len(pages) == 1
    assert dark_share(pages[0]) > 0.005  # not blank
    region = dark_share(thumbnail_region(pages[0]))
    if thumbnail:
        assert region > 0.05  # the black block of the first page is there
    else:
        assert region < 0.05
    text = pdf_text(pdf)
    for word in [*words, file_sha256(document)]:
        assert word in text, word
    return text


def test_delivered_pdf_gets_a_report_with_its_first_page(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    doc = write_pdf(_spool(settings) / "invoice.pdf", pages=2)
    filed = file_job(journal, settings, clock, doc, [True], job_id="j1")
    keeper = RecordsKeeper(settings, journal, clock)
    assert keeper.draw_pending() == 1
    text = _check_report(
        tmp_path, filed, ["+46812345670", "delivered", SENDER, "Reception"], thumbnail=True
    )
    assert "Pages" in text and " 2" in text
    assert "remote-j1-0" in text
    assert keeper.draw_pending() == 0  # done once


def test_a_filed_document_swapped_for_a_link_is_not_drawn_or_checksummed(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # Between filing and drawing, someone who may write in sent/ puts a link to another
    # document in its place: its first page and checksum must not become the proof.
    settings = settings_for(tmp_path)
    filed = file_job(
        journal,
        settings,
        clock,
        write_pdf(_spool(settings) / "s.pdf"),
        [True],
        job_id="js",
        under="+4681",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_pdf(elsewhere / "s.pdf", pages=3)
    shutil.copy(filed.with_name("s.pdf.report.yaml"), elsewhere)
    filed.parent.rename(tmp_path / "aside")
    filed.parent.symlink_to(elsewhere, target_is_directory=True)
    keeper = RecordsKeeper(settings, journal, clock)
    assert keeper.draw_pending() == 1
    # Not drawn, neither there nor wherever the link leads.
    assert not (elsewhere / "s.pdf.report.pdf").exists()
    assert not (tmp_path / "aside" / "s.pdf.report.pdf").exists()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["s.pdf", "s.pdf.report.yaml"]
    row = journal.query("SELECT sha256, pages FROM filed_records WHERE job_id = 'js'")[0]
    assert row["sha256"] is None and row["pages"] is None


@pytest.mark.parametrize("link_to", ["another report", "/dev/zero"])
def test_a_yaml_report_swapped_for_a_link_puts_nothing_of_it_on_the_proof(
    tmp_path: Path, journal: Journal, clock: FakeClock, link_to: str
) -> None:
    # The report PDF repeats the YAML report's error and notes: a link in its place to
    # another YAML file must not bring that file's words onto the proof (or into the mail
    # carrying it), and a link to an endless file must not hang the keeper.
    settings = settings_for(tmp_path)
    filed = file_job(
        journal, settings, clock, write_pdf(_spool(settings) / "f.pdf"), [False], job_id="jf"
    )
    report = filed.with_name("f.pdf.report.yaml")
    target = Path(link_to)
    if link_to == "another report":
        target = tmp_path / "elsewhere.yaml"
        target.write_text("error: PRIVATE-WORDS\nnotes: [MORE-PRIVATE]\n", encoding="utf-8")
    report.unlink()
    report.symlink_to(target)
    keeper = RecordsKeeper(settings, journal, clock)
    done = threading.Event()

    def draw() -> None:
        keeper.draw_pending()
        done.set()

    threading.Thread(target=draw, daemon=True).start()
    assert done.wait(60), "drawing the report hung on the link"
    text = pdf_text(_report_for(filed))
    assert "failed" in text
    assert "PRIVATE-WORDS" not in text and "MORE-PRIVATE" not in text


def test_a_report_pdf_a_full_disk_kept_out_is_drawn_once_there_is_room(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the filing folders needs root")
    box = tmp_path / "box"
    box.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(box)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("this machine does not let us mount a tmpfs")
    try:
        settings = settings_for(box)
        filed = file_job(
            journal, settings, clock, write_pdf(_spool(settings) / "f.pdf"), [False], job_id="jf"
        )
        filler = box / "filler"
        with filler.open("wb", buffering=0) as out:  # unbuffered: nothing left to flush
            try:
                while True:
                    out.write(b"\0" * 65536)
            except OSError:
                pass
        keeper = RecordsKeeper(settings, journal, clock)
        with capture_logs() as logs:
            assert keeper.draw_pending() == 1
        assert not _report_for(filed).exists()
        said = [e for e in logs if e["event"] == "report PDF not drawn"]
        assert len(said) == 1 and "full" in said[0]["error"] and "again" in said[0]["hint"]
        row = journal.query("SELECT state, sha256 FROM filed_records WHERE job_id = 'jf'")[0]
        assert row["state"] == "retry" and row["sha256"] == file_sha256(filed)
        assert keeper.draw_pending() == 0  # not tried again every round
        filler.unlink()
        keeper.daily()  # the next day's round (or the next start) puts it back
        keeper.draw_pending()
        assert "failed" in pdf_text(_report_for(filed))
        row = journal.query("SELECT state, report_pdf FROM filed_records WHERE job_id = 'jf'")[0]
        assert row["state"] == "done" and row["report_pdf"] == str(_report_for(filed))
    finally:
        subprocess.run(["umount", "-l", str(box)], check=False)


def test_failed_document_with_five_recipients(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    doc = write_pdf(_spool(settings) / "order.pdf")
    filed = file_job(journal, settings, clock, doc, [True, True, False, True, True], job_id="j5")
    assert filed.parent == settings.folders[0].failed_dir
    RecordsKeeper(settings, journal, clock).draw_pending()
    numbers = [f"+4681234567{i}" for i in range(5)]
    text = _check_report(tmp_path, filed, ["FAILED", "failed", *numbers], thumbnail=True)
    assert "busy" in text


def test_unicode_name_and_tiff(tmp_path: Path, journal: Journal, clock: FakeClock) -> None:
    settings = settings_for(tmp_path, station="Kontor Åre")
    doc = write_tiff(_spool(settings) / "Fäktura Ωμέγα №5.tiff", pages=3)
    filed = file_job(journal, settings, clock, doc, [True], job_id="ju")
    RecordsKeeper(settings, journal, clock).draw_pending()
    text = _check_report(
        tmp_path, filed, ["Fäktura Ωμέγα №5.tiff", "Kontor Åre", "+46812345670"], thumbnail=True
    )
    assert " 3" in text  # the TIFF's pages


def test_document_without_a_first_page_image(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    doc = _spool(settings) / "letter.docx"
    doc.write_bytes(b"PK\x03\x04 not really a document")
    filed = file_job(journal, settings, clock, doc, [True], job_id="jd")
    RecordsKeeper(settings, journal, clock).draw_pending()
    text = _check_report(tmp_path, filed, ["+46812345670", "delivered"], thumbnail=False)
    assert "No first-page image" in text


def test_report_pdf_off(tmp_path: Path, journal: Journal, clock: FakeClock) -> None:
    settings = settings_for(tmp_path, report_pdf=False)
    doc = write_pdf(_spool(settings) / "quiet.pdf")
    filed = file_job(journal, settings, clock, doc, [True], job_id="joff")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    assert not _report_for(filed).exists()
    # The checksum is still kept for the journal.
    assert keeper.ledger.finished_between(0, clock.time() + DAY)[0].sha256 == file_sha256(filed)


def test_drawing_error_never_blocks(
    tmp_path: Path, journal: Journal, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    doc = write_pdf(_spool(settings) / "x.pdf")
    filed = file_job(journal, settings, clock, doc, [True], job_id="jx")

    def explode(*_args: object) -> bytes:
        raise ValueError("font table damaged")

    monkeypatch.setattr("faxd.records.report_pdf.draw", explode)
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    assert filed.is_file() and not _report_for(filed).exists()
    row = journal.query("SELECT state, error, sha256 FROM filed_records")[0]
    assert row["state"] == "done" and "font table damaged" in row["error"]
    assert row["sha256"] == file_sha256(filed)


def _received(journal: Journal, inbox: Path, clock: FakeClock, sender: str) -> Path:
    return record_received(journal, inbox, sender, clock.time())


def test_activity_journal_csv_matches_the_day(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    clock.advance(-DAY)  # yesterday noon
    spool = _spool(settings)
    a = file_job(journal, settings, clock, write_pdf(spool / "a.pdf"), [True, False], job_id="ja")
    received = _received(journal, tmp_path / "inbox", clock, "+4940123456")
    clock.advance(DAY)
    file_job(journal, settings, clock, write_pdf(spool / "today.pdf"), [True], job_id="jt")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.daily()
    yesterday = date(2026, 11, 19)
    csv_path = tmp_path / "records" / "2026" / "2026-11-19.csv"
    assert (tmp_path / "records" / "2026" / "2026-11-19.pdf").is_file()
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # In time order: the fax came in at noon, the two transmissions ended 30 s later.
    # Numbers after a tab (records.csv: excel, the default): Excel keeps them as text.
    assert [(r["direction"], r["other_number"], r["result"]) for r in rows] == [
        ("received", "\t+4940123456", "received"),
        ("sent", "\t+46812345670", "delivered"),
        ("sent", "\t+46812345671", "failed"),
    ]
    assert {r["our_number"] for r in rows} == {"\t" + SENDER}
    assert rows[1]["sha256"] == file_sha256(a) and rows[1]["pages"] == "2"
    assert rows[1]["id"] == "remote-ja-0" and rows[1]["method"] == "dft"
    assert rows[0]["sha256"] == file_sha256(received) and rows[0]["document"] == received.name
    assert rows[0]["pages"] == "1" and rows[0]["time"].startswith("2026-11-19T12:00:00")
    text = pdf_text(csv_path.with_suffix(".pdf"))
    assert "+46812345671" in text and "Totals: 2 sent (1 delivered, 1 failed), 1 received" in text
    # Written once a day: a second call the same day writes nothing new.
    csv_path.unlink()
    keeper.daily()
    assert not csv_path.exists()
    assert keeper.write_journal(yesterday)[0] == csv_path
    # records.csv: standard writes the numbers exactly as they are.
    standard = dataclasses.replace(settings.records, csv="standard")
    keeper.configure(dataclasses.replace(settings, records=standard))
    keeper.write_journal(yesterday)
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["other_number"] for r in rows] == ["+4940123456", "+46812345670", "+46812345671"]


@pytest.mark.parametrize("swap", ["fifo", "link"])
def test_a_received_document_swapped_for_a_fifo_or_link_is_not_counted(
    tmp_path: Path,
    journal: Journal,
    clock: FakeClock,
    swap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The inbox is a share: a FIFO put in a received document's place held the records
    thread for ever (its pages were read by path), a link counted another file's pages.
    A check by path before the read cannot help: the swap can come between the two, as
    here, where every such check says "a regular file"."""
    monkeypatch.setattr(fsops, "is_regular_file", lambda path: True)
    settings = settings_for(tmp_path)
    clock.advance(-DAY)
    received = _received(journal, tmp_path / "inbox", clock, "+4940123456")
    clock.advance(DAY)
    received.unlink()
    if swap == "fifo":
        os.mkfifo(received)
    else:
        received.symlink_to(write_pdf(tmp_path / "private.pdf", pages=3))
    keeper = RecordsKeeper(settings, journal, clock)
    worker = threading.Thread(target=keeper.write_journal, args=(date(2026, 11, 19),))
    worker.start()
    worker.join(20)
    alive = worker.is_alive()
    if alive and swap == "fifo":
        with received.open("wb"):  # let the stuck reader go, so the test run can end
            pass
    assert not alive, "the records thread hangs on the received document"
    csv_path = tmp_path / "records" / "2026" / "2026-11-19.csv"
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["direction"], r["document"], r["pages"]) for r in rows] == [
        ("received", received.name, "")
    ]


def test_a_year_folder_swapped_for_a_link_takes_the_activity_journal_nowhere(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # records.path on a share the office can write: its year folder becomes a link to a
    # folder holding a file of the journal's name.
    settings = settings_for(tmp_path)
    clock.advance(-DAY)
    spool = _spool(settings)
    file_job(journal, settings, clock, write_pdf(spool / "a.pdf"), [True], job_id="ja")
    clock.advance(DAY)
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    theirs = victim / "2026-11-19.csv"
    theirs.write_text("not faxd's\n", encoding="utf-8")
    (tmp_path / "records").mkdir(exist_ok=True)
    year = tmp_path / "records" / "2026"
    year.symlink_to(victim, target_is_directory=True)
    keeper = RecordsKeeper(settings, journal, clock)
    with capture_logs() as logs:
        keeper.daily()
        keeper.daily()  # the next round: not said again
    assert theirs.read_text(encoding="utf-8") == "not faxd's\n"
    assert sorted(p.name for p in victim.iterdir()) == ["2026-11-19.csv"]
    said = [e for e in logs if e["event"] == "activity journal not written; tried again shortly"]
    assert len(said) == 1 and "symbolic link" in said[0]["error"]
    assert said[0]["day"] == "2026-11-19"
    # Put back as a plain folder, the day is written at the next round.
    year.unlink()
    keeper.daily()
    written = tmp_path / "records" / "2026" / "2026-11-19.csv"
    assert "+46812345670" in written.read_text(encoding="utf-8-sig")
    assert written.with_suffix(".pdf").is_file()


def test_purge_follows_retention_and_touches_nothing_else(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    keep = RetentionSettings(sent=90 * DAY, failed=180 * DAY, inbox=30 * DAY, records=365 * DAY)
    settings = settings_for(tmp_path, keep)
    spool = _spool(settings)
    sent = file_job(journal, settings, clock, write_pdf(spool / "s.pdf"), [True], job_id="js")
    failed = file_job(journal, settings, clock, write_pdf(spool / "f.pdf"), [False], job_id="jf")
    received = _received(journal, tmp_path / "inbox", clock, "+4940123456")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    # Not a finished job's (never picked up, or still being sent): never purged.
    waiting = write_pdf(spool / "waiting.pdf")
    foreign = settings.folders[0].sent_dir / "kept-by-hand.pdf"
    foreign.write_bytes(b"%PDF-1.4 someone else's")
    old_foreign = os.stat(foreign).st_mtime
    assert keeper.purge(dry_run=True) == []

    clock.advance(91 * DAY)
    planned = keeper.purge(dry_run=True)
    expected = {
        sent,
        sent.with_name("s.pdf.report.yaml"),
        sent.with_name("s.pdf.report.pdf"),
        received,
        received.parent / ".meta" / (received.name + ".yaml"),
    }
    assert {p for item in planned for p in item.files} == expected
    assert all(p.exists() for p in expected)  # a dry run removes nothing
    done = keeper.purge(dry_run=False)
    assert [i.key for i in done] == [i.key for i in planned]
    assert not any(p.exists() for p in expected)
    assert failed.exists() and waiting.exists() and foreign.exists()
    assert os.stat(foreign).st_mtime == old_foreign
    # The journal keeps the metadata and the checksum.
    row = journal.query("SELECT sha256, purged_at FROM filed_records WHERE job_id = 'js'")[0]
    assert row["sha256"] and row["purged_at"] is not None
    assert keeper.purge(dry_run=True) == []

    clock.advance(90 * DAY)
    assert [i.key for i in keeper.purge(dry_run=False)] == ["jf"]
    assert not failed.exists() and waiting.exists() and foreign.exists()


def test_purge_leaves_a_document_replaced_since(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path, RetentionSettings(sent=DAY))
    spool = _spool(settings)
    sent = file_job(journal, settings, clock, write_pdf(spool / "s.pdf"), [True], job_id="js")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    sent.write_bytes(b"another file put here by hand")
    clock.advance(2 * DAY)
    assert keeper.purge(dry_run=True) == []
    assert keeper.purge(dry_run=False) == []
    # Kept with its reports, and not recorded as purged: nothing of it was removed.
    assert sent.exists() and sent.with_name("s.pdf.report.yaml").exists()
    assert sent.with_name("s.pdf.report.pdf").exists()
    row = journal.query("SELECT purged_at FROM filed_records WHERE job_id = 'js'")[0]
    assert row["purged_at"] is None


def test_purge_of_a_retried_attempt_leaves_the_next_attempt_filed_under_its_names(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # `faxd retry` moves the document back and removes its reports; the next attempt is
    # filed under the same names with the same bytes. The first attempt's retention
    # deleted the second's document and proof seconds after it was filed.
    settings = settings_for(tmp_path, RetentionSettings(failed=DAY))
    spool = _spool(settings)
    first = file_job(journal, settings, clock, write_pdf(spool / "s.pdf"), [False], job_id="j1")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    journal.record_retry("j1", str(spool / "s.pdf"), None, None, None, clock.time())
    first.rename(spool / "s.pdf")
    for report in (first.with_name("s.pdf.report.yaml"), first.with_name("s.pdf.report.pdf")):
        report.unlink()
    clock.advance(2 * DAY)
    second = file_job(journal, settings, clock, spool / "s.pdf", [False], job_id="j2")
    keeper.draw_pending()
    theirs = {second, second.with_name("s.pdf.report.yaml"), second.with_name("s.pdf.report.pdf")}
    assert second == first and all(p.exists() for p in theirs)
    planned = keeper.purge(dry_run=True)
    assert [(i.key, i.files) for i in planned] == [("j1", ())]
    keeper.purge(dry_run=False)
    assert all(p.exists() for p in theirs)
    marked = journal.query("SELECT job_id FROM filed_records WHERE purged_at IS NOT NULL")
    assert [r["job_id"] for r in marked] == ["j1"]


def test_purge_leaves_names_a_later_job_was_filed_under(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # The office removed a filed document and its reports; the same document sent again
    # later was filed under the free names. Same bytes, so the checksum cannot tell.
    settings = settings_for(tmp_path, RetentionSettings(sent=DAY))
    spool = _spool(settings)
    first = file_job(journal, settings, clock, write_pdf(spool / "s.pdf"), [True], job_id="j1")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    again = first.read_bytes()
    for gone in (first, first.with_name("s.pdf.report.yaml"), first.with_name("s.pdf.report.pdf")):
        gone.unlink()
    clock.advance(2 * DAY)
    (spool / "s.pdf").write_bytes(again)
    second = file_job(journal, settings, clock, spool / "s.pdf", [True], job_id="j2")
    keeper.draw_pending()
    assert second == first
    assert [(i.key, i.files) for i in keeper.purge(dry_run=False)] == [("j1", ())]
    assert second.exists() and second.with_name("s.pdf.report.pdf").exists()
    assert second.with_name("s.pdf.report.yaml").exists()


def test_purge_removes_the_reports_of_a_document_the_office_removed(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # The report PDF carries the first page's image: it must not outlive the limit.
    settings = settings_for(tmp_path, RetentionSettings(sent=DAY))
    spool = _spool(settings)
    sent = file_job(journal, settings, clock, write_pdf(spool / "s.pdf"), [True], job_id="js")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    reports = {sent.with_name("s.pdf.report.yaml"), sent.with_name("s.pdf.report.pdf")}
    sent.unlink()
    clock.advance(2 * DAY)
    planned = keeper.purge(dry_run=True)
    assert {p for item in planned for p in item.files} == reports
    done = keeper.purge(dry_run=False)
    assert [i.key for i in done] == ["js"]
    assert not any(p.exists() for p in reports)
    assert keeper.purge(dry_run=True) == []


def test_purge_never_follows_a_folder_swapped_for_a_link(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # Someone who may write in sent/ replaces a recipient's folder with a link to a folder
    # holding files of the same names (here faxd's own state folder could be one).
    settings = settings_for(tmp_path, RetentionSettings(sent=DAY, records=DAY))
    spool = _spool(settings)
    sent = file_job(
        journal, settings, clock, write_pdf(spool / "s.pdf"), [True], job_id="js", under="+4681"
    )
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    victim = tmp_path / "elsewhere"
    shutil.copytree(sent.parent, victim)  # the same names, the same document even
    sent.parent.rename(tmp_path / "moved-away")
    sent.parent.symlink_to(victim, target_is_directory=True)
    # And a year of the daily journals linked elsewhere too.
    old_day = victim / "2024-01-05.csv"
    old_day.write_text("not faxd's\n", encoding="utf-8")
    (tmp_path / "records").mkdir(exist_ok=True)
    (tmp_path / "records" / "2024").symlink_to(victim, target_is_directory=True)
    clock.advance(2 * DAY)
    # A dry run says so beforehand: exactly what the purge would remove, and what not.
    planned = keeper.purge(dry_run=True)
    assert not any(item.files for item in planned)
    assert sorted(p.name for item in planned for p, _ in item.left) == sorted(
        ["s.pdf", "s.pdf.report.yaml", "s.pdf.report.pdf", "2024-01-05.csv"]
    )
    with capture_logs() as logs:
        done = keeper.purge(dry_run=False)
    assert not any(item.files for item in done)  # nothing counted as removed
    assert sorted(p.name for item in done for p, _ in item.left) == sorted(
        ["s.pdf", "s.pdf.report.yaml", "s.pdf.report.pdf", "2024-01-05.csv"]
    )
    assert sorted(p.name for p in victim.iterdir()) == sorted(
        ["s.pdf", "s.pdf.report.yaml", "s.pdf.report.pdf", "2024-01-05.csv"]
    )
    left = [e for e in logs if e["event"].startswith("past its retention but left in place")]
    assert {e["kind"] for e in left} == {"sent", "records"} and len(left) == 4
    assert all("symbolic link" in e["reason"] for e in left)
    # Not marked as purged: it is looked at again (and said again) the next day.
    row = journal.query("SELECT purged_at FROM filed_records WHERE job_id = 'js'")[0]
    assert row["purged_at"] is None
    # Put back as it was, the purge goes through.
    sent.parent.unlink()
    (tmp_path / "moved-away").rename(sent.parent)
    keeper.purge(dry_run=False)
    assert not sent.exists() and not sent.with_name("s.pdf.report.yaml").exists()
    assert not sent.with_name("s.pdf.report.pdf").exists()
    assert journal.query("SELECT purged_at FROM filed_records WHERE job_id = 'js'")[0]["purged_at"]


def test_a_received_fax_whose_delivery_is_still_retried_outlives_its_retention(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # inbox: 1d, and a webhook that gives up after 3 days: the purge removed the fax on
    # day 2 while its delivery was still being retried, which then gave up ("no longer
    # there"): the fax was nowhere but at a provider that may have deleted it.
    hook = WebhookChannel(
        name="tickets", url="", timeout=5, give_up_after=3 * DAY, retry_max=DAY / 2
    )
    settings = dataclasses.replace(
        settings_for(tmp_path, RetentionSettings(inbox=DAY)), channels={"tickets": hook}
    )
    keeper = RecordsKeeper(settings, journal, clock)
    outbox = Outbox(journal)
    with WebhookReceiver() as receiver:
        receiver.statuses = [503] * 100
        channel = build_channel(dataclasses.replace(hook, url=receiver.url))
        worker = OutboxWorker(settings, journal, clock, build=lambda _: channel)
        inbox = tmp_path / "inbox"
        received = record_received(journal, inbox, "+4940123456", clock.time(), deliver=["tickets"])
        meta = inbox / ".meta" / f"{received.name}.yaml"
        for _ in range(4):  # two days of retries
            worker.drain("tickets", channel)
            clock.advance(DAY / 2)
        [row] = outbox.rows("kind = 'delivery'")
        assert row.state == "pending" and row.attempts == 4
        assert keeper.purge(dry_run=True) == []
        assert keeper.purge(dry_run=False) == []
        assert received.exists() and meta.exists()
        for _ in range(3):  # until it gives up, on day 3
            worker.drain("tickets", channel)
            clock.advance(DAY / 2)
        channel.close()
    [row] = outbox.rows("kind = 'delivery'")
    assert row.state == "failed" and "503" in (row.error or "")
    assert len(receiver.paths) == row.attempts
    # The first purge after it ended removes it, as retention says.
    [done] = keeper.purge(dry_run=False)
    assert set(done.files) == {received, meta}
    assert not received.exists() and not meta.exists()


def test_a_filed_job_whose_notice_is_still_retried_outlives_its_retention(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # A notice attaches the job's report or document: its files stay until it has ended.
    settings = settings_for(tmp_path, RetentionSettings(sent=DAY))
    spool = _spool(settings)
    sent = file_job(journal, settings, clock, write_pdf(spool / "s.pdf"), [True], job_id="js")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    outbox = Outbox(journal)
    notice = NewDelivery(
        "n.js.delivered.0", "notice", "delivered", "tickets", clock.time(), "js", NoticePayload()
    )
    outbox.add([notice])
    clock.advance(2 * DAY)
    assert keeper.purge(dry_run=False) == []
    assert sent.exists() and sent.with_name("s.pdf.report.pdf").exists()
    outbox.mark_failed(notice.id, "the webhook answered HTTP 503", clock.time())
    [done] = keeper.purge(dry_run=False)
    assert done.key == "js" and not sent.exists()


def test_records_retention_removes_old_daily_journals(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path, RetentionSettings(records=365 * DAY))
    keeper = RecordsKeeper(settings, journal, clock)
    old = keeper.write_journal(date(2024, 1, 5))
    new = keeper.write_journal(date(2026, 1, 5))
    (tmp_path / "records" / "2024" / "notes.txt").write_text("mine", encoding="utf-8")
    assert {p for i in keeper.purge(dry_run=False) for p in i.files} == set(old)
    assert all(p.exists() for p in new)
    assert (tmp_path / "records" / "2024" / "notes.txt").exists()
    keeper.drain_audit()
    logged = "".join(f.read_text(encoding="utf-8") for f in keeper.audit_log.files())
    assert logged.count('"event":"purged"') == 2 and "2024-01-05.csv" in logged


def test_audit_events_reach_the_log_once_in_commit_order(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    spool = _spool(settings)
    file_job(journal, settings, clock, write_pdf(spool / "a.pdf"), [True, False], job_id="ja")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.drain_audit()
    log = AuditLog(tmp_path / "records" / "audit")
    events = [line for f in log.files() for line in f.read_text(encoding="utf-8").splitlines()]
    names = [__import__("json").loads(line)["event"] for line in events]
    assert names == ["picked up", "accepted", "delivered", "accepted", "failed", "filed"]
    assert keeper.verify_audit().ok
    # A crash after the append but before the outbox was acknowledged: not written twice.
    journal.audit("provider paused", provider="docs")
    rows = keeper.ledger.audit_pending()
    keeper.audit_log.append(rows)
    keeper.drain_audit()
    after = [line for f in log.files() for line in f.read_text(encoding="utf-8").splitlines()]
    assert len(after) == len(events) + 1
    assert keeper.verify_audit().ok


def test_an_audit_folder_swapped_for_a_link_keeps_the_events_in_the_journal(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    spool = _spool(settings)
    file_job(journal, settings, clock, write_pdf(spool / "a.pdf"), [True], job_id="ja")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    audit = tmp_path / "records" / "audit"
    audit.parent.mkdir(parents=True, exist_ok=True)
    audit.symlink_to(elsewhere, target_is_directory=True)
    keeper = RecordsKeeper(settings, journal, clock)
    with capture_logs() as logs:
        assert keeper.drain_audit() == 0
        assert keeper.drain_audit() == 0  # the next round: not said again
    said = [
        e for e in logs if e["event"] == "audit log not written; the events wait in the journal"
    ]
    assert len(said) == 1 and "link" in said[0]["error"]
    assert list(elsewhere.iterdir()) == []
    waiting = len(keeper.ledger.audit_pending())
    assert waiting == said[0]["waiting"] > 0
    # A plain folder again: every event reaches the log, in order, once.
    audit.unlink()
    assert keeper.drain_audit() == waiting
    assert keeper.verify_audit().ok


def test_an_audit_log_on_a_full_disk_keeps_the_events_in_the_journal(
    tmp_path: Path, journal: Journal, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk with room for part of the lines takes that part without an error: the
    events were acknowledged and lost, and the chain, cut back to its last whole line,
    still verified. A file size limit makes the kernel do just that."""
    settings = settings_for(tmp_path)
    spool = _spool(settings)
    file_job(journal, settings, clock, write_pdf(spool / "a.pdf"), [True], job_id="ja")
    keeper = RecordsKeeper(settings, journal, clock)
    assert keeper.drain_audit() > 0
    (month,) = keeper.audit_log.files()
    before = month.read_bytes()
    for n in range(3):
        journal.audit("provider paused", provider=f"docs{n}")
    append = keeper.audit_log.append

    def on_a_full_disk(rows: Any) -> Any:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 100, hard))
        try:
            return append(rows)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    monkeypatch.setattr(keeper.audit_log, "append", on_a_full_disk)
    with capture_logs() as logs:
        assert keeper.drain_audit() == 0
    assert any(e["event"] == "audit log not written; the events wait in the journal" for e in logs)
    assert len(keeper.ledger.audit_pending()) == 3
    assert month.read_bytes() == before  # no part of a line is left behind
    monkeypatch.undo()
    assert keeper.drain_audit() == 3
    logged = month.read_text(encoding="utf-8")
    assert [f"docs{n}" in logged for n in range(3)] == [True] * 3
    verdict = keeper.verify_audit()
    assert verdict.ok and verdict.lines == len(before.splitlines()) + 3


def test_audit_events_wait_in_the_journal_while_documents_are_uploaded(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    """While the fax path is busy a round copies no events (they stay committed in the
    journal's outbox), except once every MAX_DEFER seconds; idle, they are copied at once,
    and a stopping daemon copies them whatever the load."""
    settings = settings_for(tmp_path)
    busy = [True]
    keeper = RecordsKeeper(settings, journal, clock, fax_busy=lambda: busy[0])
    journal.audit("provider paused", provider="docs")
    keeper.step()
    assert keeper.audit_log.files() == []
    assert len(keeper.ledger.audit_pending()) == 1
    clock.advance(MAX_DEFER)
    keeper.step()
    assert keeper.ledger.audit_pending() == []
    journal.audit("provider resumed", provider="docs")
    keeper.step()
    assert len(keeper.ledger.audit_pending()) == 1  # waiting again
    busy[0] = False
    keeper.step()
    assert keeper.ledger.audit_pending() == []
    busy[0] = True
    journal.audit("provider paused", provider="docs")
    stop = threading.Event()
    stop.set()
    keeper.run(stop)
    assert keeper.ledger.audit_pending() == []
    assert keeper.verify_audit().ok


@pytest.mark.skipif(shutil.which("gs") is None, reason="needs Ghostscript")
def test_postscript_print_job_shows_its_first_page(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    doc = _spool(settings) / "print-job.ps"
    doc.write_bytes(b"%!PS-Adobe-3.0\n50 500 500 300 rectfill\nshowpage\n")
    filed = file_job(journal, settings, clock, doc, [True], job_id="jps")
    RecordsKeeper(settings, journal, clock).draw_pending()
    _check_report(tmp_path, filed, ["+46812345670", "print-job.ps"], thumbnail=True)


def test_daily_journal_waits_a_few_minutes_into_the_day(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.daily()  # 2026-11-20 noon: yesterday's
    year = tmp_path / "records" / "2026"
    assert sorted(p.name for p in year.glob("*.csv")) == ["2026-11-19.csv"]
    midnight = datetime(2026, 11, 21, 0, 0).astimezone().timestamp()
    clock.advance(midnight + 120 - clock.time())  # two minutes past midnight
    keeper.daily()
    assert sorted(p.name for p in year.glob("*.csv")) == ["2026-11-19.csv"]
    clock.advance(900)
    keeper.daily()
    assert sorted(p.name for p in year.glob("*.csv")) == ["2026-11-19.csv", "2026-11-20.csv"]


def test_a_drawing_cut_short_by_a_stop_stays_pending(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    filed = file_job(
        journal, settings, clock, write_pdf(_spool(settings) / "a.pdf"), [True], job_id="ja"
    )
    calls: list[bool] = []

    def dying(*_args: object, **_kwargs: object) -> Made:
        calls.append(True)
        return Made(None, None, None, "drawing the report PDF crashed", interrupted=True)

    keeper = RecordsKeeper(settings, journal, clock, dying)
    keeper._stop.set()  # the daemon is stopping: the helper was killed with it
    keeper.draw_pending()
    assert calls == [True]
    assert [f.job.id for f in keeper.ledger.pending_reports()] == ["ja"]
    # Not stopping: one more try (a helper killed once is not the document's fault) …
    keeper = RecordsKeeper(settings, journal, clock, dying)
    keeper.draw_pending()
    assert len(calls) == 3
    # … and then the report is given up, the filing kept.
    assert keeper.ledger.pending_reports() == []
    assert filed.is_file() and not _report_for(filed).exists()


def test_reports_wait_while_documents_are_uploaded(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    """While the fax path is busy the reports stay pending (their syncs would slow the
    uploads), one every MAX_DEFER seconds still comes, and the rest follow once idle."""
    settings = settings_for(tmp_path)
    spool = _spool(settings)
    docs = [
        file_job(journal, settings, clock, write_pdf(spool / f"d{n}.pdf"), [True], job_id=f"j{n}")
        for n in range(3)
    ]
    busy = [True]
    keeper = RecordsKeeper(settings, journal, clock, fax_busy=lambda: busy[0])
    assert keeper.draw_pending() == 0
    clock.advance(MAX_DEFER - 1)
    assert keeper.draw_pending() == 0
    assert len(keeper.ledger.pending_reports()) == 3
    clock.advance(1)
    assert keeper.draw_pending() == 1  # waited long enough: one, then waiting again
    assert keeper.draw_pending() == 0
    assert len(keeper.ledger.pending_reports()) == 2
    busy[0] = False
    assert keeper.draw_pending() == 2
    assert all(_report_for(doc).is_file() for doc in docs)


def test_a_failures_report_is_drawn_at_once_even_while_the_fax_path_is_busy(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    """The failure notice waits for this PDF and must reach the sender within a minute;
    deliveries filed before it still wait for the uploads to pause."""
    settings = settings_for(tmp_path)
    spool = _spool(settings)
    delivered = file_job(journal, settings, clock, write_pdf(spool / "ok.pdf"), [True], job_id="j1")
    clock.advance(1)
    failed = file_job(journal, settings, clock, write_pdf(spool / "bad.pdf"), [False], job_id="j2")
    keeper = RecordsKeeper(settings, journal, clock, fax_busy=lambda: True)
    assert keeper.draw_pending() == 1
    assert _report_for(failed).is_file()
    assert not _report_for(delivered).exists()
    assert [f.job.id for f in keeper.ledger.pending_reports()] == ["j1"]


def test_while_documents_are_sent_the_keeper_takes_one_round_a_second(
    tmp_path: Path, journal: Journal, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    busy = [True]
    keeper = RecordsKeeper(settings, journal, clock, fax_busy=lambda: busy[0])
    rounds: list[float] = []
    monkeypatch.setattr(keeper, "step", lambda stop=None: rounds.append(time.monotonic()))
    stop = threading.Event()
    runner = threading.Thread(target=keeper.run, args=(stop,))
    runner.start()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # a filing wakes it every few milliseconds
            keeper.wake()
            time.sleep(0.005)
        busy_rounds = len(rounds)
        busy[0] = False
        keeper.wake()
        idle_since = len(rounds)
        deadline = time.monotonic() + 1.5  # the paced wait under way ends first
        while time.monotonic() < deadline:
            keeper.wake()
            time.sleep(0.005)
    finally:
        stop.set()
        keeper.wake()
        runner.join(10)
    # Paced while busy (about one round a second, not one per wake) ...
    assert 1 <= busy_rounds <= 3, rounds
    # ... and woken at once again when the uploads pause.
    assert len(rounds) - idle_since >= 5


def test_a_records_part_failing_again_and_again_is_said_once_until_it_works(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # On a full state disk the audit drain failed twice a second, each with a traceback.
    keeper = RecordsKeeper(settings_for(tmp_path, RetentionSettings()), journal, clock)
    failing = True

    def drain() -> None:
        if failing:
            raise OSError(28, "No space left on device")

    with capture_logs() as logs:
        for _ in range(20):
            keeper._guarded("audit log", drain)
        failing = False
        keeper._guarded("audit log", drain)
        keeper._guarded("audit log", drain)
    events = [e["event"] for e in logs]
    assert events == ["records task failed; tried again shortly", "records task works again"]


def test_a_file_that_cannot_be_removed_is_left_and_the_rest_is_purged(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # A recipient's folder on a share mounted read-only: its files stay (said once each,
    # in a sentence), the received document due too is removed, and nothing fails.
    settings = settings_for(tmp_path, RetentionSettings(sent=DAY, inbox=DAY))
    spool = _spool(settings)
    sent = file_job(
        journal, settings, clock, write_pdf(spool / "s.pdf"), [True], job_id="js", under="+4681"
    )
    received = _received(journal, tmp_path / "inbox", clock, "+4940123456")
    keeper = RecordsKeeper(settings, journal, clock)
    keeper.draw_pending()
    ours = {sent, sent.with_name("s.pdf.report.yaml"), sent.with_name("s.pdf.report.pdf")}
    clock.advance(2 * DAY)
    with read_only(sent.parent), capture_logs() as logs:
        keeper.step()  # the daemon's round: the daily purge among it
    assert not any(e["event"].startswith("records task failed") for e in logs)
    left = [e for e in logs if e["event"].startswith("past its retention but left in place")]
    assert sorted(e["file"] for e in left) == sorted(str(p) for p in ours)
    assert all(
        "remount it read-write" in e["reason"] or "permission denied" in e["reason"] for e in left
    )
    assert all(p.exists() for p in ours) and not received.exists()
    row = journal.query("SELECT purged_at FROM filed_records WHERE job_id = 'js'")[0]
    assert row["purged_at"] is None  # looked at again the next day
    keeper.purge(dry_run=False)
    assert not any(p.exists() for p in ours)


def _journal_rows(tmp_path: Path, day: str) -> list[dict[str, str]]:
    csv_path = tmp_path / "records" / day[:4] / f"{day}.csv"
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_day_s_journal_waits_for_a_job_that_finished_that_day_to_be_filed(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    # The share holding sent/ was down across midnight: the job finished yesterday and is
    # filed today, after the daily round. Its day's journal must still list it.
    settings = settings_for(tmp_path)
    clock.advance(-DAY)  # yesterday noon
    spool = _spool(settings)
    doc = file_job(
        journal, settings, clock, write_pdf(spool / "late.pdf"), [True], job_id="jl", filed=False
    )
    clock.advance(DAY)
    keeper = RecordsKeeper(settings, journal, clock)
    with capture_logs() as logs:
        keeper.daily()
        keeper.daily()  # every round looks; said once
    csv_path = tmp_path / "records" / "2026" / "2026-11-19.csv"
    assert not csv_path.exists()
    waits = [e for e in logs if e["event"].startswith("activity journal waits")]
    assert len(waits) == 1 and waits[0]["jobs"] == ["jl"] and waits[0]["day"] == "2026-11-19"
    filed = archive_job(journal, settings, doc, job_id="jl", when=clock.time())
    keeper.daily()
    rows = _journal_rows(tmp_path, "2026-11-19")
    assert [(r["other_number"], r["result"], r["id"]) for r in rows] == [
        ("\t+46812345670", "delivered", "remote-jl-0")
    ]
    assert rows[0]["sha256"] == file_sha256(filed) and rows[0]["pages"] == "2"
    assert rows[0]["time"].startswith("2026-11-19T12:00:30")


def test_a_job_never_filed_is_in_its_day_s_journal_after_the_wait_saying_so(
    tmp_path: Path, journal: Journal, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path)
    clock.advance(-DAY)
    spool = _spool(settings)
    file_job(
        journal, settings, clock, write_pdf(spool / "stuck.pdf"), [False], job_id="js", filed=False
    )
    clock.advance(DAY)
    keeper = RecordsKeeper(settings, journal, clock)
    for _ in range(FILING_WAIT_DAYS):
        keeper.daily()
        assert not (tmp_path / "records" / "2026" / "2026-11-19.csv").exists()
        clock.advance(DAY)
    with capture_logs() as logs:
        keeper.daily()
    rows = _journal_rows(tmp_path, "2026-11-19")
    assert [(r["document"], r["result"], r["pages"], r["sha256"]) for r in rows] == [
        ("stuck.pdf", "failed", "", "not filed")
    ]
    text = pdf_text(tmp_path / "records" / "2026" / "2026-11-19.pdf")
    assert "1 transmission(s) of documents not filed" in " ".join(text.split())
    said = [e for e in logs if e["event"].startswith("activity journal written with documents")]
    assert len(said) == 1 and said[0]["jobs"] == ["js"]
    # The days after it, held back behind it, are written too.
    assert (tmp_path / "records" / "2026" / "2026-11-22.csv").exists()
