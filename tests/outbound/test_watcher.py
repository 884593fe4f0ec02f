"""Choosing inotify or polling, and falling back when inotify runs out."""

from __future__ import annotations

import errno
import logging
import queue
from pathlib import Path
from typing import Any

import pytest
import structlog

from faxd.outbound import watcher
from faxd.outbound.watcher import Change, FolderWatcher, choose_mode, filesystem_type
from faxd.settings import WatchMode

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /srv/fax rw,relatime shared:20 - nfs4 server:/fax rw
41 40 0:36 / /srv/fax/local rw,relatime shared:21 - ext4 /dev/sdb1 rw
42 22 0:37 / /mnt/share\\040drive rw,relatime shared:22 - cifs //nas/share rw
43 22 0:38 / /media/usb rw - fuse.sshfs host: rw
"""


@pytest.mark.parametrize(
    ("path", "fstype", "mode"),
    [
        ("/srv/fax/out", "nfs4", "poll"),
        ("/srv/fax/local/out", "ext4", "inotify"),
        ("/mnt/share drive/scans", "cifs", "poll"),
        ("/media/usb/x", "fuse.sshfs", "poll"),
        ("/home/office", "ext4", "inotify"),
    ],
)
def test_network_file_systems_are_polled(path: str, fstype: str, mode: str) -> None:
    assert filesystem_type(Path(path), MOUNTINFO) == fstype
    assert choose_mode(Path(path), "auto", MOUNTINFO) == mode


def test_an_explicit_choice_wins() -> None:
    assert choose_mode(Path("/srv/fax/out"), "inotify", MOUNTINFO) == "inotify"
    assert choose_mode(Path("/home/x"), "poll", MOUNTINFO) == "poll"


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EMFILE])
def test_inotify_limit_falls_back_to_polling_and_names_the_sysctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int
) -> None:
    class Exhausted:
        def __init__(self) -> None:
            raise OSError(err, "inotify watch limit reached")

    monkeypatch.setattr(watcher, "Observer", Exhausted)
    changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
    w = FolderWatcher(tmp_path, "inotify", changes, poll_interval=0.1)
    with structlog.testing.capture_logs() as logs:
        mode = w.start()
    try:
        assert mode == "poll"
        assert w.alive()
        assert any("max_user_watches" in str(entry.get("hint", "")) for entry in logs)
        (tmp_path / "seen.pdf").write_bytes(b"%PDF-")
        change = changes.get(timeout=5)
        assert change.path.parent == tmp_path
    finally:
        w.stop()


def test_other_errors_are_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.EACCES, "permission denied")

    monkeypatch.setattr(watcher, "Observer", broken)
    w = FolderWatcher(tmp_path, "inotify", queue.SimpleQueue())
    with pytest.raises(OSError):
        w.start()


def test_inotify_reports_new_files_moved_in_files_and_new_folders(tmp_path: Path) -> None:
    changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
    w = FolderWatcher(tmp_path, "inotify", changes)
    assert w.start() == "inotify"
    try:
        outside = tmp_path.parent / f"{tmp_path.name}-outside.pdf"
        outside.write_bytes(b"%PDF-")
        outside.rename(tmp_path / "moved.pdf")
        (tmp_path / "sub").mkdir()
        seen: set[tuple[str, str]] = set()
        while ("moved.pdf", "file") not in seen or ("sub", "dir") not in seen:
            change = changes.get(timeout=5)
            seen.add((change.path.name, change.kind))
    finally:
        w.stop()


def test_moves_out_of_the_tree_hold_later_events_only_briefly(tmp_path: Path) -> None:
    """watchdog holds an unpaired IN_MOVED_FROM (a document filed out of the spool) and
    every event behind it for its pairing delay: faxd shortens it below any useful settle."""
    changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
    w = FolderWatcher(tmp_path, "inotify", changes)
    w.start()
    try:
        emitters = list(w._observer.emitters)
        delays = {e._inotify._move_event_grouper._queue.delay for e in emitters}
        assert delays == {watcher.MOVE_PAIRING}
        assert watcher.MOVE_PAIRING <= 0.05
    finally:
        w.stop()


def test_moves_inside_the_tree_are_still_paired(tmp_path: Path) -> None:
    """A folder renamed inside the spool keeps its watch: a file written into it later is
    reported under the new name, and a renamed file under its new name."""
    changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
    (tmp_path / "old").mkdir()
    w = FolderWatcher(tmp_path, "inotify", changes)
    w.start()
    try:
        (tmp_path / "old").rename(tmp_path / "new")
        (tmp_path / "a.tmp").write_bytes(b"%PDF-")
        (tmp_path / "a.tmp").rename(tmp_path / "a.pdf")
        seen: set[Path] = set()
        while tmp_path / "new" not in seen or tmp_path / "a.pdf" not in seen:
            seen.add(changes.get(timeout=5).path)
        (tmp_path / "new" / "late.pdf").write_bytes(b"%PDF-")
        while tmp_path / "new" / "late.pdf" not in seen:
            seen.add(changes.get(timeout=5).path)
        assert tmp_path / "old" / "late.pdf" not in seen
    finally:
        w.stop()


@pytest.mark.parametrize("mode", ["inotify", "poll"])
def test_reading_a_document_raises_no_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: WatchMode
) -> None:
    """faxd reads every document it copies: those opens and closes are not asked for, so
    watchdog neither parses nor hands them on. Writes are still reported."""
    handled: queue.SimpleQueue[str] = queue.SimpleQueue()
    real = watcher._Handler.on_any_event

    def counted(self: Any, event: Any) -> None:
        handled.put(type(event).__name__)
        real(self, event)

    monkeypatch.setattr(watcher._Handler, "on_any_event", counted)
    document = tmp_path / "letter.pdf"
    document.write_bytes(b"%PDF-")
    changes: queue.SimpleQueue[Change] = queue.SimpleQueue()
    w = FolderWatcher(tmp_path, mode, changes, poll_interval=0.1)
    w.start()
    try:
        for _ in range(10):
            assert document.read_bytes() == b"%PDF-"
        (tmp_path / "marker.pdf").write_bytes(b"%PDF-")  # what comes after the reads
        assert changes.get(timeout=5).path == tmp_path / "marker.pdf"
        kinds = []
        while not handled.empty():
            kinds.append(handled.get())
        assert kinds and not {"FileOpenedEvent", "FileClosedNoWriteEvent"} & set(kinds)
    finally:
        w.stop()


def test_watchdogs_stop_race_is_not_an_error_line(caplog: pytest.LogCaptureFixture) -> None:
    """An event that meets its emitter stopping (filing during a stop) made watchdog log
    an error at every stop; other watchdog errors still come through."""
    inotify_log = logging.getLogger("watchdog.observers.inotify")
    with caplog.at_level(logging.ERROR, logger="watchdog.observers.inotify"):
        inotify_log.error("InotifyEmitter.queue_events() called when the thread is inactive")
        inotify_log.error("something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]
