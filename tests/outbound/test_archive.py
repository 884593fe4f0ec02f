"""Filing's start-up sweep: work folders no unfiled job owns hold copies of documents that
nothing else would ever remove."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.host.job_folders_lock import making_in
from faxd.outbound.archive import Archiver

from .test_intake import PDF, IntakeRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    yield r
    r.journal.close()


def test_the_sweep_removes_work_folders_no_unfiled_job_owns(rig: IntakeRig, tmp_path: Path) -> None:
    for name in ("queued.pdf", "filed.pdf"):
        (rig.spool / name).write_bytes(PDF + name.encode())
    rig.intake.scan(rig.spool)
    rig.run()
    jobs = {j.rel_path: j for j in rig.journal.jobs()}
    queued, filed = jobs["queued.pdf"], jobs["filed.pdf"]
    # A kill between mark_archived and removing the folder left the filed job's copies.
    rig.journal.mark_archived(filed.id, str(tmp_path / "sent" / "filed.pdf"), rig.clock.time())
    work = tmp_path / "state" / "work"
    orphan = work / "20261130080000-0badc0de"  # a kill between the copy and the journal
    (orphan / "snap").mkdir(parents=True)
    (orphan / "snap" / "private.pdf").write_bytes(PDF)
    older = work / "print-1234"  # an older faxd's conversion: its job removes it
    older.mkdir()
    assert {p.name for p in work.iterdir()} == {queued.id, filed.id, orphan.name, older.name}

    archiver = Archiver(rig.journal, rig.clock, work_root=work)
    assert archiver.sweep_work() == 2
    assert {p.name for p in work.iterdir()} == {queued.id, older.name}
    assert (rig.intake.snapshot_dir(queued.id) / "queued.pdf").is_file()  # still to be sent
    assert archiver.sweep_work() == 0


def test_the_sweep_leaves_the_work_folders_while_a_command_makes_one(
    rig: IntakeRig, tmp_path: Path
) -> None:
    # faxd send copies into its work folder before its job is in the journal; a daemon
    # starting then removed the folder under it as one no job owns.
    work = tmp_path / "state" / "work"
    archiver = Archiver(rig.journal, rig.clock, work_root=work)
    orphan = work / "20261130080000-0badc0de"
    with making_in(work):
        (orphan / "snap").mkdir(parents=True)
        (orphan / "snap" / "letter.pdf").write_bytes(PDF)
        assert archiver.sweep_work() == 0
        assert (orphan / "snap" / "letter.pdf").is_file()
    assert archiver.sweep_work() == 1  # once the command is done (or was killed)
    assert not orphan.exists()


def test_the_sweep_without_a_work_folder_does_nothing(rig: IntakeRig, tmp_path: Path) -> None:
    assert Archiver(rig.journal, rig.clock, work_root=tmp_path / "none").sweep_work() == 0


def test_a_filing_error_naming_a_new_temporary_file_each_time_is_said_once(
    rig: IntakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Out of inodes, every try failed on a temporary file of another random name, and the
    # error was logged again every 5 s for every job.
    import os

    import structlog

    from faxd.errors import FaxdError

    archiver = rig.intake._archiver

    def full(_job: object) -> Path:
        name = f".faxd-{os.getpid()}-{os.urandom(4).hex()}.tmp"
        raise FaxdError(f"{name}: the disk is full; free some space.")

    monkeypatch.setattr(archiver, "archive", full)
    (rig.spool / "notes.xyz").write_bytes(b"\x00\x01 not a fax \x02")
    with structlog.testing.capture_logs() as logs:
        rig.run()  # refused at intake, and filing it fails
        [job] = rig.journal.jobs()
        for _ in range(4):
            assert not archiver._try_archive(job.id)
    said = [e for e in logs if e["event"].startswith("could not file the document")]
    assert len(said) == 1
