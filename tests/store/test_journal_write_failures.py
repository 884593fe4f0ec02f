"""A journal that cannot be written (a full disk) or opened (damaged, not faxd's): one
sentence naming the file, said once, and a counter the engine backs off on."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import structlog

from faxd.store import journal as journal_module
from faxd.store.journal import (
    Journal,
    JournalOpenError,
    JournalWriteError,
    open_journal_file,
)

from ..unfinished_write import leave_unfinished_write


def _full(journal: Journal) -> None:
    """SQLite's own "database or disk is full": no page may be added any more."""
    pages = journal.pragma("page_count")
    journal.pragma(f"max_page_count = {pages}")


def _big_write(journal: Journal, n: int) -> None:
    journal.set_value(f"filler-{n}", "x" * 100_000)


def test_a_full_disk_is_one_sentence_said_once_until_writes_go_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    _full(journal)
    with structlog.testing.capture_logs() as logs:
        for n in range(5):
            with pytest.raises(JournalWriteError) as caught:
                _big_write(journal, n)
        assert str(path) in str(caught.value)
        assert "free space" in str(caught.value)
        assert journal.write_failures == 5
        failing = journal.write_error
        # A small write still fits: not yet "can be written again" (the disk is not).
        journal.set_value("small", "1")
        assert failing is not None and journal.write_error is None
        with pytest.raises(JournalWriteError):
            _big_write(journal, 9)
    said = [entry for entry in logs if entry["event"] == "journal write failed"]
    assert len(said) == 1
    assert not [entry for entry in logs if "written again" in entry["event"]]
    # Space again, and a quiet spell: said once that it is over.
    journal.pragma("max_page_count = 1073741823")
    monkeypatch.setattr(journal_module, "WRITE_QUIET", 0.0)
    with structlog.testing.capture_logs() as logs:
        _big_write(journal, 10)
        _big_write(journal, 11)
    assert [entry["event"] for entry in logs] == [
        "the journal can be written again; faxd carries on"
    ]
    # The failed writes left nothing behind; the good one is there.
    assert journal.get_value("filler-0") is None
    assert journal.get_value("filler-10") is not None


def test_a_journal_another_program_holds_locked_is_waited_out_not_a_crash(
    tmp_path: Path,
) -> None:
    # An sqlite3 shell or a backup tool holding the journal past the busy timeout ended
    # the daemon with "internal error: database is locked".
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.pragma("busy_timeout = 100")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JournalWriteError) as caught:
            journal.set_value("k", "1")
        assert "end the program that holds it open" in str(caught.value)
        assert "free space" not in str(caught.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    journal.set_value("k", "2")  # the lock is gone: written
    assert journal.get_value("k") == "2"
    assert journal.write_error is None


def test_a_statement_error_is_still_a_bug_not_a_full_disk(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    with pytest.raises(Exception) as caught, journal.transaction() as db:
        db.execute("INSERT INTO no_such_table VALUES (1)")
    assert not isinstance(caught.value, JournalWriteError)
    assert journal.write_failures == 0
    journal.set_value("after", "1")  # the transaction was rolled back


def test_a_damaged_journal_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"overwritten by something else " * 200)
    with pytest.raises(JournalOpenError) as caught:
        open_journal_file(path)
    text = str(caught.value)
    assert f"the journal {path} is damaged" in text
    assert "move the file aside" in text
    with pytest.raises(JournalOpenError):
        open_journal_file(path, readonly=True)


@contextmanager
def _unwritable(state: Path) -> Iterator[None]:
    """`state` and the files in it, readable but not writable for this process."""
    if os.geteuid() != 0:
        files = list(state.iterdir())
        for path in files:
            path.chmod(0o444)
        state.chmod(0o555)
        try:
            yield
        finally:
            state.chmod(0o755)
            for path in files:
                path.chmod(0o644)
        return
    # Root writes whatever the mode says: a read-only bind mount stops it.
    done = subprocess.run(["mount", "--bind", str(state), str(state)], check=False)
    if done.returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(state)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_a_journal_faxd_may_not_write_names_the_folder_to_fix(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = state / "journal.sqlite"
    Journal(path).close()
    with _unwritable(state), pytest.raises(JournalOpenError) as caught:
        open_journal_file(path)
    assert str(path) in str(caught.value)
    assert "writable by faxd's user" in str(caught.value)


def test_a_write_a_killed_faxd_left_unfinished_is_undone_for_a_reader(tmp_path: Path) -> None:
    # A read-only open refused such a journal with "attempt to write a readonly database"
    # and told the user to chown the folder.
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    journal.set_value("committed", "kept")
    journal.close()
    hot = leave_unfinished_write(path)
    reader = open_journal_file(path, readonly=True)
    try:
        assert reader.get_value("committed") == "kept"
        assert not reader.has_table("unfinished")
    finally:
        reader.close()
    assert not hot.exists()
    # The first start's own: killed before the journal had a table.
    fresh = tmp_path / "fresh" / "journal.sqlite"
    fresh.parent.mkdir()
    leave_unfinished_write(fresh)
    reader = open_journal_file(fresh, readonly=True)
    try:
        assert reader.query("SELECT * FROM jobs") == []
    finally:
        reader.close()


def test_a_reader_who_may_not_undo_an_unfinished_write_is_told_who_can(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    path = state / "journal.sqlite"
    leave_unfinished_write(path)
    with _unwritable(state), pytest.raises(JournalOpenError) as caught:
        open_journal_file(path, readonly=True)
    text = str(caught.value)
    assert f"the journal {path} holds a write that a stopped faxd left unfinished" in text
    assert "Start faxd" in text and "chown" not in text
    open_journal_file(path, readonly=True).close()  # writable again: undone, and read
