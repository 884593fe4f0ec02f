"""SpoolPresence: a spool folder on another file system than before (an unmounted
share's empty mount point) is away, like a missing one, and nothing is taken from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from faxd.core.job_payload import JobOptions
from faxd.outbound.spool_presence import SpoolPresence
from faxd.outbound.watcher import Change
from faxd.store.journal import Journal, NewJob

from .test_intake import PDF, IntakeRig


class Mounts:
    """Which folders have a share mounted on them: os.stat answers for such a folder
    with the share's file system; unmounted, the folder is on its parent's, as a bare
    mount point is."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.shares: dict[Path, int] = {}
        real = os.stat

        def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            st = real(path, *args, **kwargs)
            if isinstance(path, int):
                return st
            device = self.shares.get(Path(os.fsdecode(path)))
            if device is None:
                return st
            return os.stat_result((st.st_mode, st.st_ino, device, *tuple(st)[3:]))

        monkeypatch.setattr(os, "stat", stat)

    def mount(self, folder: Path, device: int = 0x7E57) -> None:
        self.shares[folder] = device

    def umount(self, folder: Path) -> None:
        del self.shares[folder]


def _job(folder: Path) -> NewJob:
    return NewJob(
        id="j1",
        folder=str(folder),
        rel_path="a.pdf",
        path=str(folder / "a.pdf"),
        sidecar=None,
        attachments=[],
        files=[],
        provider="docs",
        sender="+4612345678",
        dft=False,
        reference=None,
        rule="folder",
        options=JobOptions(),
        ino=None,
        received_at=0.0,
        numbers=("+46812345678",),
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.sqlite")


def test_missing_is_away_and_a_new_folder_is_not(journal: Journal, tmp_path: Path) -> None:
    presence = SpoolPresence(journal)
    spool = tmp_path / "spool"
    assert presence.away(spool)
    spool.mkdir()
    assert not presence.away(spool)  # never recorded: nothing to compare with
    presence.record(spool)
    assert not presence.away(spool)


def test_another_file_system_is_away_while_its_documents_are_unfinished(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    presence = SpoolPresence(journal)
    spool = tmp_path / "spool"
    spool.mkdir()
    presence.record(spool)
    journal.create_job(_job(spool))
    real_stat = os.stat
    st = real_stat(spool)
    # The bare mount point: a folder, on the file system that holds the mount point.
    mount_point = os.stat_result((st.st_mode, st.st_ino + 1, st.st_dev + 1, 2, 0, 0, 4096, 0, 0, 0))

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        return mount_point if Path(str(path)) == spool else real_stat(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    assert presence.away(spool)
    presence.record(spool)  # a start while the share is away keeps the old file system
    assert presence.away(spool)
    monkeypatch.undo()
    assert not presence.away(spool)


def test_a_folder_moved_for_good_is_accepted_once_nothing_waits_for_it(
    journal: Journal, tmp_path: Path
) -> None:
    presence = SpoolPresence(journal)
    spool = tmp_path / "spool"
    spool.mkdir()
    journal.set_value(f"folder-device:{spool}", "12345")  # recorded on another disk
    assert presence.away(spool)
    presence.record(spool)  # no unfinished job came from it
    assert not presence.away(spool)


def test_nothing_is_taken_from_the_bare_mount_point_and_the_share_back_is_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = IntakeRig(tmp_path)
    mounts = Mounts(monkeypatch)
    try:
        mounts.mount(rig.spool)
        SpoolPresence(rig.journal).record(rig.spool)  # the daemon's start, on the share
        mounts.umount(rig.spool)
        doc = rig.spool / "a.pdf"
        doc.write_bytes(PDF)  # into the folder the share left behind
        with capture_logs() as logs:
            rig.run()  # the first rescan
            # Heard by a watch begun before the share went.
            rig.intake.changes.put(Change(rig.spool, doc, "file"))
            rig.run()
            rig.clock.advance(301)
            rig.run()
        assert rig.jobs() == [] and doc.exists()
        said = [e for e in logs if "bare mount point" in e["event"]]
        assert len(said) == 1 and said[0]["folder"] == str(rig.spool)
        mounts.mount(rig.spool)  # back: its documents are taken at the next rescan
        with capture_logs() as logs:
            rig.clock.advance(301)
            rig.run()
        assert rig.jobs() == ["a.pdf"]
        assert [e["event"] for e in logs if e.get("folder") == str(rig.spool)] == [
            "spool folder is there again"
        ]
    finally:
        rig.journal.close()
