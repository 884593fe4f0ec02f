"""The start-up sweep of `faxd send`'s outbox folders: the ones of jobs the journal does
not know and the empty ones of filed jobs go; an unfiled job's, a filed job's that still
holds a file, and any while a command is making one stay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.host.job_folders_lock import making_in
from faxd.outbound import outbox_folders

from .test_intake import PDF, IntakeRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    yield r
    r.journal.close()


def folder(outbox: Path, name: str, *files: str) -> Path:
    path = outbox / name
    path.mkdir(parents=True)
    for file in files:
        (path / file).write_bytes(PDF)
    return path


def test_the_sweep_removes_the_outbox_folders_no_job_needs(rig: IntakeRig, tmp_path: Path) -> None:
    for name in ("queued.pdf", "filed.pdf", "kept.pdf"):
        (rig.spool / name).write_bytes(PDF + name.encode())
    rig.intake.scan(rig.spool)
    rig.run()
    jobs = {j.rel_path: j for j in rig.journal.jobs()}
    for name in ("filed.pdf", "kept.pdf"):
        rig.journal.mark_archived(jobs[name].id, str(tmp_path / "sent" / name), rig.clock.time())
    outbox = tmp_path / "state" / "outbox"
    queued = folder(outbox, jobs["queued.pdf"].id, "queued.pdf", "queued.pdf.yaml")
    folder(outbox, jobs["filed.pdf"].id)  # a kill between the filing and its removal
    # A file filing left there (changed after faxd took it): its report says it is kept.
    kept = folder(outbox, jobs["kept.pdf"].id, "kept.pdf")
    # A faxd send killed before its job was journaled: copies nothing will ever read.
    folder(outbox, "20261130080000-0badc0de", "letter.pdf", "letter.pdf.yaml")

    assert outbox_folders.sweep(outbox, rig.journal) == 2
    assert sorted(outbox.iterdir()) == sorted([queued, kept])
    assert (queued / "queued.pdf").is_file()  # still to be sent, then filed from there
    assert (kept / "kept.pdf").is_file()
    assert outbox_folders.sweep(outbox, rig.journal) == 0


def test_the_sweep_leaves_the_outbox_folders_while_a_command_makes_one(
    rig: IntakeRig, tmp_path: Path
) -> None:
    # faxd send copies into its outbox folder before its job is in the journal; the
    # sweep must not remove it under the command.
    outbox = tmp_path / "state" / "outbox"
    with making_in(outbox):
        orphan = folder(outbox, "20261130080000-0badc0de", "letter.pdf")
        assert outbox_folders.sweep(outbox, rig.journal) == 0
        assert (orphan / "letter.pdf").is_file()
    assert outbox_folders.sweep(outbox, rig.journal) == 1  # the command is done (or was killed)
    assert not orphan.exists()


def test_the_sweep_without_an_outbox_does_nothing(rig: IntakeRig, tmp_path: Path) -> None:
    assert outbox_folders.sweep(tmp_path / "state" / "outbox", rig.journal) == 0
