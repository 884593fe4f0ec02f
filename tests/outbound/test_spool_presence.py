"""SpoolPresence: a spool folder on another file system than before (an unmounted
share's empty mount point) is away, like a missing one, and nothing is taken from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from faxd.clock import FakeClock
from faxd.core.job_payload import JobOptions
from faxd.host.folder_place import KnownPlace
from faxd.outbound.archive import Archiver
from faxd.outbound.spool_presence import SpoolPresence
from faxd.outbound.watcher import Change
from faxd.store.journal import Journal, NewJob
from tests.fake_mounts import Mounts

from .test_intake import PDF, IntakeRig


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


def test_the_bare_mount_point_is_away_while_its_documents_are_unfinished(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    presence = SpoolPresence(journal)
    spool = tmp_path / "spool"
    spool.mkdir()
    mounts = Mounts(monkeypatch)
    mounts.mount(spool)
    presence.record(spool)
    journal.create_job(_job(spool))
    mounts.umount(spool)  # the folder left behind, on the disk holding it
    assert presence.away(spool)
    presence.record(spool)  # a start while the share is away keeps the share's file system
    assert presence.away(spool)
    assert journal.folder_device(spool) == 0x7E57
    mounts.mount(spool)
    assert not presence.away(spool)


def test_the_share_back_under_another_device_number_is_taken_without_a_restart(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A network share gets another anonymous device number at each mount: faxd held it
    # as away until a restart, and for ever while documents from it were unfinished.
    presence = SpoolPresence(journal)
    spool = tmp_path / "spool"
    spool.mkdir()
    mounts = Mounts(monkeypatch)
    mounts.mount(spool, 0x7E57)
    presence.record(spool)
    journal.create_job(_job(spool))
    mounts.umount(spool)
    assert presence.away(spool)
    mounts.mount(spool, 0x7E58)
    with capture_logs() as logs:
        assert not presence.away(spool)
        assert not presence.away(spool)
    assert journal.folder_device(spool) == 0x7E58
    said = [e for e in logs if e["event"].startswith("spool folder is on another mounted")]
    assert len(said) == 1 and said[0]["log_level"] == "info"  # once, not at every look
    mounts.umount(spool)  # and its bare mount point is away as before
    assert presence.away(spool)


def _share_layout(tmp_path: Path, mounted_on: str) -> tuple[Path, Path]:
    """The spool folder and the share's mount point: the share mounted on the folder
    itself, or higher up with the folder below it (the NAS at /srv/fax, /srv/fax/out)."""
    spool = tmp_path / "spool" if mounted_on == "folder" else tmp_path / "share" / "out"
    spool.mkdir(parents=True)
    return spool, spool if mounted_on == "folder" else spool.parent


@pytest.mark.parametrize("mounted_on", ["folder", "above"], ids=["on-the-folder", "above-it"])
def test_a_start_takes_the_share_mounted_again_under_another_device_number(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mounted_on: str
) -> None:
    spool, share = _share_layout(tmp_path, mounted_on)
    mounts = Mounts(monkeypatch)
    mounts.mount(share, 0x7E57)
    SpoolPresence(journal).record(spool)
    journal.create_job(_job(spool))
    mounts.mount(share, 0x7E58)  # remounted while faxd was down
    presence = SpoolPresence(journal)
    presence.record(spool)
    assert journal.folder_device(spool) == 0x7E58
    assert not presence.away(spool)


def test_a_file_system_mounted_on_a_plain_folder_is_taken_with_a_warning(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first start before the share was mounted recorded the disk holding the folder.
    presence = SpoolPresence(journal)
    spool = tmp_path / "spool"
    spool.mkdir()
    presence.record(spool)
    journal.create_job(_job(spool))
    mounts = Mounts(monkeypatch)
    mounts.mount(spool)
    with capture_logs() as logs:
        assert not presence.away(spool)
    [said] = [e for e in logs if e.get("folder") == str(spool)]
    assert said["log_level"] == "warning" and "under the mount" in said["event"]
    mounts.umount(spool)
    assert presence.away(spool)


def test_a_folder_found_on_another_mounted_file_system_waits_for_the_daemon_to_watch_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its claim and its watch are on the old file system until the daemon moves them.
    rig = IntakeRig(tmp_path)
    mounts = Mounts(monkeypatch)
    presence = rig.intake._archiver.presence
    try:
        mounts.mount(rig.spool, 0x7E57)
        presence.record(rig.spool)
        presence.watching(rig.spool)
        rig.run()
        mounts.mount(rig.spool, 0x7E58)
        doc = rig.spool / "a.pdf"
        doc.write_bytes(PDF)
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
        rig.run()
        assert rig.jobs() == [] and presence.remounted(rig.spool)
        presence.watching(rig.spool)  # claimed and watched again, as the daemon does
        assert not presence.remounted(rig.spool)
        rig.intake.scan(rig.spool)  # with the scan that comes with it
        rig.run()
        assert rig.jobs() == ["a.pdf"]
    finally:
        rig.journal.close()


@pytest.mark.parametrize("mounted_on", ["folder", "above"], ids=["on-the-folder", "above-it"])
def test_the_start_claims_a_share_back_under_another_number_but_not_while_it_is_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mounted_on: str
) -> None:
    from faxd.host.folder_claims import CLAIM_NAME, FolderClaims, claim_configured
    from faxd.service.daemon import Daemon
    from tests.settings_helpers import bare_settings, folder_settings

    spool, share = _share_layout(tmp_path, mounted_on)
    journal = Journal(tmp_path / "journal.sqlite")
    mounts = Mounts(monkeypatch)
    mounts.mount(share, 0x7E57)
    SpoolPresence(journal).record(spool)
    journal.create_job(_job(spool))
    daemon: Any = Daemon(tmp_path / "faxd.yaml", {})
    daemon._journal = journal
    daemon._archiver = Archiver(journal, FakeClock())
    settings = bare_settings(tmp_path / "state", folders=(folder_settings(spool, spool),))
    claims = FolderClaims("me")
    try:
        mounts.umount(share)
        assert claim_configured(claims, settings, daemon._present) == []
        assert claims.held() == set() and not (spool / CLAIM_NAME).exists()
        mounts.mount(share, 0x7E58)
        assert claim_configured(claims, settings, daemon._present) == []
        assert claims.held() == {spool}
    finally:
        claims.release_all()
        journal.close()


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


# A share mounted above the spool folder (the NAS at /srv/fax, the folder /srv/fax/out):
# the folder is on its parent's file system whether the share is mounted or not.


def test_a_share_mounted_above_the_folder_is_held_while_away_and_taken_back_under_another_number(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = tmp_path / "share"
    spool = share / "out"
    spool.mkdir(parents=True)
    mounts = Mounts(monkeypatch)
    mounts.mount(share, 0x7E57)
    presence = SpoolPresence(journal)
    presence.record(spool)
    journal.create_job(_job(spool))
    mounts.umount(share)  # `out` below the bare mount point: made there by hand, say
    assert presence.away(spool)
    presence.record(spool)  # a start while the share is away: its documents wait for it
    assert presence.away(spool)
    mounts.mount(share, 0x7E58)
    with capture_logs() as logs:
        assert not presence.away(spool)
    assert journal.folder_device(spool) == 0x7E58
    [said] = [e for e in logs if e.get("folder") == str(spool)]
    assert said["log_level"] == "info" and "another mounted file system" in said["event"]
    mounts.umount(share)  # away again, under the number it came back with
    assert presence.away(spool)
    mounts.mount(spool, 0x7E60)  # a new disk mounted on the folder itself
    assert not presence.away(spool)


def test_a_share_mounted_above_a_plain_folder_is_taken_with_a_warning(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first start before the share was mounted recorded the disk holding the folder.
    share = tmp_path / "share"
    spool = share / "out"
    spool.mkdir(parents=True)
    presence = SpoolPresence(journal)
    presence.record(spool)
    mounts = Mounts(monkeypatch)
    mounts.mount(share)
    with capture_logs() as logs:
        assert not presence.away(spool)
    [said] = [e for e in logs if e.get("folder") == str(spool)]
    assert said["log_level"] == "warning" and "under the mount" in said["event"]
    mounts.umount(share)
    assert presence.away(spool)


def test_a_record_without_a_mount_root_gets_one_and_keeps_the_parent_rule_until_then(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = tmp_path / "share"
    spool = share / "out"
    spool.mkdir(parents=True)
    mounts = Mounts(monkeypatch)
    mounts.mount(share, 0x7E57)
    journal.set_value(f"folder-device:{spool}", str(0x7E57))  # kept by an older faxd
    journal.create_job(_job(spool))
    assert not SpoolPresence(journal).away(spool)
    assert journal.folder_place(spool) == KnownPlace(0x7E57, share)
    mounts.umount(share)
    mounts.mount(share, 0x7E58)
    assert not SpoolPresence(journal).away(spool)
    # Without it, the folder on its parent's file system is all there is to go by.
    journal.set_value(f"folder-device:{spool}", str(0x7E57))
    assert journal.folder_place(spool) == KnownPlace(0x7E57, None)
    assert SpoolPresence(journal).away(spool)


def test_nothing_is_taken_below_the_bare_mount_point_and_the_share_back_is_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    rig = IntakeRig(share)
    mounts = Mounts(monkeypatch)
    presence = rig.intake._archiver.presence
    try:
        mounts.mount(share, 0x7E57)
        presence.record(rig.spool)  # the daemon's start, on the share
        presence.watching(rig.spool)
        mounts.umount(share)
        doc = rig.spool / "a.pdf"
        doc.write_bytes(PDF)  # into a folder made below the bare mount point
        rig.run()
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
        rig.run()
        rig.clock.advance(301)
        rig.run()
        assert rig.jobs() == [] and doc.exists()
        mounts.mount(share, 0x7E58)  # back under another number
        rig.clock.advance(301)
        rig.run()
        assert rig.jobs() == [] and presence.remounted(rig.spool)
        presence.watching(rig.spool)  # claimed and watched again, as the daemon does
        rig.intake.scan(rig.spool)
        rig.run()
        assert rig.jobs() == ["a.pdf"]
    finally:
        rig.journal.close()
