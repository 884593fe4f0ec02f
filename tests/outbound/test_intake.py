"""Intake in-process: rescans catch what events missed, bursts give one job, our own
output trees and attachments are never taken as documents."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.clock import FakeClock
from faxd.outbound.archive import Archiver
from faxd.outbound.intake import Intake
from faxd.outbound.watcher import Change
from faxd.store.journal import Journal
from tests.settings_helpers import bare_settings, folder_settings

from .engine_rig import FakeSender

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


class IntakeRig:
    def __init__(self, tmp: Path, *, takers: int = 0) -> None:
        self.spool = tmp / "spool"
        self.spool.mkdir(exist_ok=True)  # a second rig on the same tmp: faxd restarted
        self.clock = FakeClock()
        self.journal = Journal(tmp / "state" / "journal.sqlite")
        self.folder = folder_settings(
            self.spool,
            self.spool,
            provider="fake",
            to=("+46812345678",),
            settle=0.0,
            sidecar_wait=0.0,
            rescan_interval=300.0,
        )
        settings = bare_settings(
            tmp / "state",
            source=tmp / "faxd.yaml",
            default_provider="fake",
            folders=(self.folder,),
        )
        self.queued = 0

        def on_job() -> None:
            self.queued += 1

        self.intake = Intake(
            settings,
            self.journal,
            {"fake": FakeSender()},
            Archiver(self.journal, self.clock),
            self.clock,
            on_job,
            takers=takers,
        )

    def run(self, steps: int = 5) -> None:
        for _ in range(steps):
            self.intake.step(max_wait=0.01)

    def run_until_tracked(self, path: Path, timeout: float = 30.0) -> None:
        """Steps until `path` waits on the intake thread's list (a take that ended without
        a job came back to it)."""
        deadline = time.monotonic() + timeout
        self.run()
        while path not in self.intake._tracks and time.monotonic() < deadline:
            self.intake.step(max_wait=0.01)
        assert path in self.intake._tracks, f"{path.name} did not come back"

    def run_until_idle(self, timeout: float = 30.0) -> None:
        """Steps until nothing is tracked or being taken (takers work on their own threads)."""
        deadline = time.monotonic() + timeout
        self.run()
        while self.intake.pending() and time.monotonic() < deadline:
            self.intake.step(max_wait=0.01)
        assert not self.intake.pending(), "the intake did not finish"

    def jobs(self) -> list[str]:
        return sorted(j.rel_path for j in self.journal.jobs())


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    yield r
    r.journal.close()


def test_the_periodic_rescan_finds_files_no_event_announced(rig: IntakeRig) -> None:
    (rig.spool / "a.pdf").write_bytes(PDF)
    rig.run()  # the first pass scans the folder
    assert rig.jobs() == ["a.pdf"]
    (rig.spool / "b.pdf").write_bytes(PDF)  # no event: as if the inotify queue overflowed
    rig.run()
    assert rig.jobs() == ["a.pdf"]
    rig.clock.advance(301)
    rig.run()
    assert rig.jobs() == ["a.pdf", "b.pdf"]
    assert rig.queued == 2


def test_a_burst_of_events_for_one_file_gives_one_job(rig: IntakeRig) -> None:
    rig.run()
    doc = rig.spool / "burst.pdf"
    doc.write_bytes(PDF)
    for _ in range(20):
        doc.touch()
        doc.chmod(0o644)
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
    rig.run()
    for _ in range(5):
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
    rig.clock.advance(301)
    rig.run()
    assert rig.jobs() == ["burst.pdf"]


def test_our_output_trees_and_junk_are_never_input(rig: IntakeRig) -> None:
    for rel in ("sent/x.pdf", "failed/y.pdf", ".hidden/z.pdf", "Thumbs.db", "a.tmp"):
        path = rig.spool / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PDF)
    rig.run()
    for rel in ("sent/x.pdf", "failed/y.pdf"):
        rig.intake.changes.put(Change(rig.spool, rig.spool / rel, "file"))
    rig.run()
    assert rig.jobs() == []


def test_a_file_named_as_an_attachment_is_not_sent_on_its_own(rig: IntakeRig) -> None:
    (rig.spool / "terms.pdf").write_bytes(PDF)
    (rig.spool / "order.pdf.yaml").write_text('to: "+46812345678"\nattach: [terms.pdf]\n')
    (rig.spool / "order.pdf").write_bytes(PDF + b"%order\n")
    rig.run()
    [job] = rig.journal.jobs()
    assert job.rel_path == "order.pdf"
    assert [Path(a).name for a in job.attachments] == ["terms.pdf"]


def test_a_new_subfolder_is_scanned_when_it_appears(rig: IntakeRig) -> None:
    rig.run()
    deep = rig.spool / "+46812345611" / "a"
    deep.mkdir(parents=True)
    (deep / "deep.pdf").write_bytes(PDF)
    rig.intake.changes.put(Change(rig.spool, rig.spool / "+46812345611", "dir"))
    rig.run()
    [job] = rig.journal.jobs()
    assert job.rel_path == "+46812345611/a/deep.pdf"
    assert [t.number for t in rig.journal.transmissions(job.id)] == ["+46812345611"]


def test_a_sidecar_retarus_key_keeps_the_folders_other_retarus_options(tmp_path: Path) -> None:
    from dataclasses import replace

    from faxd.settings import RetarusOptions

    rig = IntakeRig(tmp_path)
    try:
        folder = replace(
            rig.folder, retarus=RetarusOptions(resolution="LOW", header="Office", express=True)
        )
        rig.folder = folder
        rig.intake.configure(replace(rig.intake._settings, folders=(folder,)))
        (rig.spool / "a.pdf.yaml").write_text(
            'to: "+46812345678"\nretarus:\n  coverpage_template: cover.ftl.html\n'
        )
        (rig.spool / "a.pdf").write_bytes(PDF)
        rig.intake.scan(rig.spool)
        rig.run()
        jobs = rig.journal.jobs()
        assert len(jobs) == 1, jobs
        options = jobs[0].options.retarus
        assert options is not None
        assert options.coverpage_template == "cover.ftl.html"
        assert options.resolution == "LOW" and options.header == "Office"
        assert options.express is True
    finally:
        rig.journal.close()
