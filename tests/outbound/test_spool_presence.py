"""SpoolPresence: a spool folder on another file system than before (an unmounted
share's empty mount point) is away, like a missing one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faxd.core.job_payload import JobOptions
from faxd.outbound.spool_presence import SpoolPresence
from faxd.store.journal import Journal, NewJob


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
