"""Intake reads only regular files below the spool, through one descriptor each, and takes
a copy of what it checked: sidecars that are links, FIFOs, devices or folders fail the
document with a report that quotes nothing; a document or folder swapped for a link is not
followed; a document rewritten after it was taken is a new document."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from faxd.model import JobState
from faxd.outbound.archive import Archiver
from faxd.store.journal_rows import JobRow

from .test_intake import PDF, IntakeRig

SECRET = "api-key-0123456789-do-not-leak"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key").write_text(f"{SECRET}\n")
    (tmp_path / "private" / "a.pdf").write_bytes(
        PDF.replace(b"%%EOF", SECRET.encode() + b"\n%%EOF")
    )
    yield r
    r.journal.close()


def _private(rig: IntakeRig) -> Path:
    return rig.spool.parent / "private"


def _run_unblocked(rig: IntakeRig, fifo: Path | None = None) -> None:
    """Run intake steps in a thread: a read that blocks on a FIFO fails the test instead
    of hanging it (the FIFO is then opened for writing once, to let the reader go)."""
    worker = threading.Thread(target=rig.run, daemon=True)
    worker.start()
    worker.join(20)
    stuck = worker.is_alive()
    if stuck and fifo is not None:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
    assert not stuck, "intake blocked"


def _only_job(rig: IntakeRig) -> JobRow:
    jobs = rig.journal.jobs()
    assert len(jobs) == 1, [j.rel_path for j in jobs]
    return jobs[0]


def _reports_text(rig: IntakeRig) -> str:
    return "".join(p.read_text() for p in rig.spool.rglob("*.report.yaml"))


@pytest.mark.parametrize("kind", ["credential-link", "passwd-link", "fifo", "dev-zero", "dir"])
def test_a_sidecar_that_is_not_a_regular_file_fails_the_document_quoting_nothing(
    rig: IntakeRig, kind: str
) -> None:
    (rig.spool / "a.pdf").write_bytes(PDF)
    sidecar = rig.spool / "a.pdf.yaml"
    if kind == "credential-link":
        sidecar.symlink_to(_private(rig) / "key")
    elif kind == "passwd-link":
        sidecar.symlink_to("/etc/passwd")
    elif kind == "fifo":
        os.mkfifo(sidecar)
    elif kind == "dev-zero":
        sidecar.symlink_to("/dev/zero")
    else:
        sidecar.mkdir()
    rig.intake.scan(rig.spool)
    _run_unblocked(rig, sidecar if kind == "fifo" else None)
    job = _only_job(rig)
    assert job.state == JobState.FAILED
    assert job.error is not None and "a.pdf.yaml" in job.error
    assert "regular file" in job.error or "symbolic link" in job.error
    report = yaml.safe_load((rig.spool / "failed" / "a.pdf.report.yaml").read_text())
    assert report["result"] == "failed"
    text = _reports_text(rig) + (job.error or "")
    assert SECRET not in text and "root:" not in text
    # A link or special file is never moved: it stays where it was.
    assert os.path.lexists(sidecar)


def test_a_huge_sidecar_is_refused_by_size(rig: IntakeRig) -> None:
    (rig.spool / "a.pdf").write_bytes(PDF)
    (rig.spool / "a.pdf.yaml").write_text("to: '+46812345678'\n" + "#" * 100_000 + "\n")
    rig.intake.scan(rig.spool)
    rig.run()
    assert "at most 64.0 KiB" in (_only_job(rig).error or "")


def test_a_document_swapped_for_a_link_after_it_was_seen_is_not_taken(rig: IntakeRig) -> None:
    doc = rig.spool / "a.txt"
    doc.write_text("hello\n")
    rig.intake.scan(rig.spool)  # seen, not yet looked at
    doc.unlink()
    doc.symlink_to(_private(rig) / "key")
    rig.run()
    assert rig.journal.jobs() == []
    assert SECRET not in _reports_text(rig)
    assert doc.is_symlink()


def test_a_recipient_folder_swapped_for_a_link_is_not_followed(rig: IntakeRig) -> None:
    folder = rig.spool / "+46812345678"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(PDF)
    rig.intake.scan(rig.spool)
    rig.intake._feed_scans(None)  # the scan has read a.pdf; it is taken after the swap
    os.rename(folder, rig.spool.parent / "moved-away")
    folder.symlink_to(_private(rig))  # holds an a.pdf of its own
    rig.run()
    job = _only_job(rig)
    assert job.state == JobState.FAILED
    assert "symbolic link" in (job.error or "")
    assert (_private(rig) / "a.pdf").exists()  # nothing moved out of the private folder
    assert SECRET not in _reports_text(rig)


def test_what_is_uploaded_is_a_copy_taken_when_the_job_was_created(rig: IntakeRig) -> None:
    doc = rig.spool / "a.pdf"
    doc.write_bytes(PDF)
    rig.intake.scan(rig.spool)
    rig.run()
    job = _only_job(rig)
    upload = Path(job.files[0].path)
    assert upload.is_relative_to(rig.spool.parent / "state" / "work" / job.id)
    with doc.open("r+b") as rewrite:  # `cat v2 > a.pdf` while v1 is in flight
        rewrite.truncate(0)
        rewrite.write(PDF.replace(b"%%EOF", b"% two\n%%EOF"))
    assert upload.read_bytes() == PDF


def _deliver_and_file(rig: IntakeRig, job: JobRow, archiver: Archiver) -> None:
    rig.journal.set_job_state(job.id, JobState.DELIVERED, finished_at=rig.clock.time())
    stored = rig.journal.job(job.id)
    assert stored is not None
    archiver.archive(stored)
    rig.intake.release(job.id)


def test_a_document_rewritten_in_flight_files_the_sent_bytes_and_is_sent_again(
    rig: IntakeRig,
) -> None:
    archiver = Archiver(rig.journal, rig.clock, work_root=rig.spool.parent / "state" / "work")
    doc = rig.spool / "a.pdf"
    doc.write_bytes(PDF)
    rig.intake.scan(rig.spool)
    rig.run()
    first = _only_job(rig)
    v2 = PDF.replace(b"%%EOF", b"% two\n%%EOF")
    with doc.open("r+b") as rewrite:
        rewrite.truncate(0)
        rewrite.write(v2)
    _deliver_and_file(rig, first, archiver)
    assert (rig.spool / "sent" / "a.pdf").read_bytes() == PDF  # what was sent
    assert doc.read_bytes() == v2  # the new content stays, as a new document
    report = yaml.safe_load((rig.spool / "sent" / "a.pdf.report.yaml").read_text())
    assert any("changed in the spool folder" in note for note in report["notes"])
    assert not (rig.spool.parent / "state" / "work" / first.id).exists()
    rig.run()  # taken again at once, not at the next rescan
    second = [j for j in rig.journal.jobs() if j.id != first.id]
    assert len(second) == 1
    assert Path(second[0].files[0].path).read_bytes() == v2


def test_a_document_replaced_by_rename_in_flight_is_taken_again_at_once(rig: IntakeRig) -> None:
    archiver = Archiver(rig.journal, rig.clock, work_root=rig.spool.parent / "state" / "work")
    doc = rig.spool / "a.pdf"
    doc.write_bytes(PDF)
    rig.intake.scan(rig.spool)
    rig.run()
    first = _only_job(rig)
    v2 = PDF.replace(b"%%EOF", b"% two\n%%EOF")
    tmp = rig.spool / ".a.pdf.part"
    tmp.write_bytes(v2)
    tmp.rename(doc)
    rig.intake.changes.put(
        rig.intake.changes.get_nowait()
    ) if not rig.intake.changes.empty() else None
    _deliver_and_file(rig, first, archiver)
    assert (rig.spool / "sent" / "a.pdf").read_bytes() == PDF
    rig.run()
    assert len(rig.journal.jobs()) == 2


def test_filing_into_a_folder_swapped_for_a_link_files_nothing_there(rig: IntakeRig) -> None:
    archiver = Archiver(rig.journal, rig.clock, work_root=rig.spool.parent / "state" / "work")
    folder = rig.spool / "+46812345678"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(PDF)
    rig.intake.scan(rig.spool)
    rig.run()
    job = _only_job(rig)
    sent = rig.spool / "sent"
    sent.mkdir()
    (sent / "+46812345678").symlink_to(_private(rig))
    rig.journal.set_job_state(job.id, JobState.DELIVERED, finished_at=rig.clock.time())
    stored = rig.journal.job(job.id)
    assert stored is not None
    assert archiver.try_archive(stored) is False  # unfiled, logged, tried again later
    assert sorted(p.name for p in _private(rig).iterdir()) == ["a.pdf", "key"]
    assert (folder / "a.pdf").exists()


def test_a_work_folder_that_cannot_take_the_copy_delays_the_document_not_fails_it(
    rig: IntakeRig,
) -> None:
    work = rig.spool.parent / "state" / "work"
    work.write_text("not a folder")  # as good as a full or read-only state_dir
    (rig.spool / "a.pdf").write_bytes(PDF)
    rig.intake.scan(rig.spool)
    rig.run()
    assert rig.journal.jobs() == []
    assert (rig.spool / "a.pdf").exists()
    work.unlink()
    rig.clock.advance(31)
    rig.run()
    assert _only_job(rig).state == JobState.READY
