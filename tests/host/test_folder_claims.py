"""One faxd per folder: the claim on FOLDER/.faxd.lock, held by a real second process
(tests/folder_claim_holder.py)."""

from __future__ import annotations

from pathlib import Path

from faxd.host.folder_claims import CLAIM_NAME, FolderClaims
from tests.folder_claim_holder import OTHER, held_elsewhere


def test_a_folder_another_process_claimed_is_refused_with_its_owner(tmp_path: Path) -> None:
    mine = FolderClaims("pid 1 on fax2, state_dir /var/lib/faxd")
    with held_elsewhere(tmp_path):
        refused = mine.claim(tmp_path)
        assert refused is not None
        assert str(tmp_path) in refused and OTHER in refused
        assert mine.held() == set()
    # Its holder gone, the lock went with it: the folder is free, the file names the new one.
    assert mine.claim(tmp_path) is None
    assert mine.held() == {tmp_path}
    assert (tmp_path / CLAIM_NAME).read_text() == "pid 1 on fax2, state_dir /var/lib/faxd\n"
    mine.release_all()
    assert (tmp_path / CLAIM_NAME).read_text() == ""  # no pid left to point at a stranger


def test_a_folder_that_cannot_hold_the_file_is_worked_as_before(tmp_path: Path) -> None:
    claims = FolderClaims("me")
    assert claims.claim(tmp_path / "not-there") is None
    (tmp_path / CLAIM_NAME).symlink_to(tmp_path / "elsewhere")  # never followed
    assert claims.claim(tmp_path) is None
    assert not (tmp_path / "elsewhere").exists()


def test_a_claim_file_linked_to_another_file_is_never_written(tmp_path: Path) -> None:
    # A hard link in the spool folder to a file faxd may write (its journal, say): the
    # claim would cut it down to faxd's pid.
    journal = tmp_path / "journal.sqlite"
    journal.write_bytes(b"SQLite format 3\0" + b"rows" * 1000)
    folder = tmp_path / "spool"
    folder.mkdir()
    (folder / CLAIM_NAME).hardlink_to(journal)
    claims = FolderClaims("pid 1 on here, state_dir /var/lib/faxd")
    assert claims.claim(folder) is None
    assert claims.held() == set()
    assert journal.read_bytes() == b"SQLite format 3\0" + b"rows" * 1000
    claims.release_all()


def test_every_spool_folder_and_the_inbox_are_claimed_and_a_taken_one_is_a_problem(
    tmp_path: Path,
) -> None:
    from faxd.host.folder_claims import claim_configured
    from faxd.settings import InboxSettings
    from tests.settings_helpers import bare_settings, folder_settings

    spools = [tmp_path / "out", tmp_path / "scans", tmp_path / "later"]
    inbox = tmp_path / "inbox"
    for folder in (*spools[:2], inbox):
        folder.mkdir()
    settings = bare_settings(
        tmp_path / "state",
        folders=tuple(folder_settings(p, tmp_path) for p in spools),
        inbox=InboxSettings(provider="docs", path=inbox),
    )
    with held_elsewhere(spools[1]):
        claims = FolderClaims("me")
        [problem] = claim_configured(claims, settings)
        assert problem.path == "folders[1].path" and "pid 4242 on fax1" in problem.message
        # A folder not there yet is claimed once it is created (by the daemon).
        assert claims.held() == {spools[0], inbox}


def test_a_claim_knows_its_file_system_and_a_held_inbox_is_refused_in_its_own_words(
    tmp_path: Path,
) -> None:
    import os

    from faxd.host.folder_claims import claim_configured
    from faxd.settings import InboxSettings
    from tests.settings_helpers import bare_settings, folder_settings

    spool, inbox = tmp_path / "out", tmp_path / "inbox"
    spool.mkdir()
    inbox.mkdir()
    settings = bare_settings(
        tmp_path / "state",
        folders=(folder_settings(spool, tmp_path),),
        inbox=InboxSettings(provider="docs", path=inbox),
    )
    claims = FolderClaims("me")
    with held_elsewhere(inbox):
        [problem] = claim_configured(claims, settings)
    assert problem.path == "inbox.path"
    assert "would deliver every received document into it twice" in problem.message
    # What a poller compares with the file system it finds the folder on now.
    assert claims.device_of(spool) == os.stat(spool).st_dev
    assert claims.device_of(inbox) is None
    claims.release(spool)
    assert claims.device_of(spool) is None
