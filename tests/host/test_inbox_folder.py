"""An inbox folder's `.tmp/` and `.meta/` swapped for links by whoever may write in the
inbox, at any moment: faxd never writes, moves or removes anything outside the folder."""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from faxd.host import fsops
from faxd.host.inbox_folder import InboxFolder, TmpSink

SECRET = b"private bytes of another folder"


@pytest.fixture
def inbox(tmp_path: Path) -> InboxFolder:
    folder = InboxFolder(tmp_path / "inbox")
    folder.ensure()
    return folder


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder faxd may write to and the inbox's users may not (its state, a spool)."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    return other


def _received(inbox: InboxFolder, data: bytes = b"%PDF-1.4 received") -> TmpSink:
    with inbox.tmp_file(max_size=1 << 20) as sink:
        sink.write(data)
    return sink


def _swap_for_link(inbox: InboxFolder, own: str, target: Path) -> Path:
    """Move faxd's folder aside (as a user may) and put a link in its place."""
    aside = inbox.path / f"{own}-aside"
    (inbox.path / own).rename(aside)
    (inbox.path / own).symlink_to(target, target_is_directory=True)
    return aside


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_received_file_is_published_under_its_name_with_its_bytes(inbox: InboxFolder) -> None:
    sink = _received(inbox, b"%PDF-1.4 page")
    assert inbox.publish(sink, "2026-12-01 fax.pdf")
    assert (inbox.path / "2026-12-01 fax.pdf").read_bytes() == b"%PDF-1.4 page"
    assert os.listdir(inbox.tmp) == []
    assert inbox.is_taken("2026-12-01 fax.pdf")


def test_publishing_never_replaces_a_name_taken_meanwhile(inbox: InboxFolder) -> None:
    (inbox.path / "taken.pdf").write_bytes(b"the user's file")
    sink = _received(inbox)
    assert not inbox.publish(sink, "taken.pdf")
    assert (inbox.path / "taken.pdf").read_bytes() == b"the user's file"
    assert os.listdir(inbox.tmp) == [sink.name]


def test_tmp_swapped_for_a_link_before_publishing_moves_nothing_from_its_target(
    inbox: InboxFolder, elsewhere: Path
) -> None:
    sink = _received(inbox)
    # The link leads to a folder holding a file of the very name faxd is about to move:
    # through the path, faxd would move that file into the inbox for the user to read.
    (elsewhere / sink.name).write_bytes(SECRET)
    _swap_for_link(inbox, ".tmp", elsewhere)
    with pytest.raises(OSError) as caught:
        inbox.publish(sink, "2026-12-01 fax.pdf")
    assert caught.value.errno == errno.ELOOP
    assert "its .tmp folder is a symbolic link" in str(caught.value)
    assert _listing(elsewhere) == {sink.name: SECRET}
    assert not (inbox.path / "2026-12-01 fax.pdf").exists()


def test_tmp_swapped_for_a_link_gets_no_new_file_and_loses_none_on_discard(
    inbox: InboxFolder, elsewhere: Path
) -> None:
    sink = _received(inbox)
    (elsewhere / sink.name).write_bytes(SECRET)
    _swap_for_link(inbox, ".tmp", elsewhere)
    inbox.discard(sink)  # best effort: what stays in the real .tmp/ goes at the next start
    with pytest.raises(OSError) as caught:
        _received(inbox, b"a received document")
    assert caught.value.errno == errno.ELOOP
    assert _listing(elsewhere) == {sink.name: SECRET}


def test_tmp_swapped_for_a_link_just_before_the_file_is_created_gets_nothing(
    inbox: InboxFolder, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The narrowest window: .tmp/ was found to be faxd's folder, and is a link by the time
    # the file is created in it. Through the path, the received document would land in
    # the link's target; through the descriptor, it lands in the folder that was checked.
    real_open = os.open
    aside: list[Path] = []

    def swap_then_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & os.O_CREAT and str(path).endswith(".part") and not aside:
            aside.append(_swap_for_link(inbox, ".tmp", elsewhere))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", swap_then_open)
    with inbox.tmp_file(max_size=1 << 20) as sink:
        sink.write(b"a received document")
    monkeypatch.undo()
    assert aside, "the swap did not happen"
    assert _listing(elsewhere) == {}
    assert _listing(aside[0]) == {sink.name: b"a received document"}


def test_meta_swapped_for_a_link_gets_no_metadata(inbox: InboxFolder, elsewhere: Path) -> None:
    _swap_for_link(inbox, ".meta", elsewhere)
    with pytest.raises(OSError) as caught:
        inbox.write_meta("2026-12-01 fax.pdf", "sender: '+46812345678'\n")
    assert "its .meta folder is a symbolic link" in str(caught.value)
    assert _listing(elsewhere) == {}


def test_metadata_is_written_once_into_meta_and_a_second_write_keeps_the_first(
    inbox: InboxFolder,
) -> None:
    inbox.write_meta("a.pdf", "first\n")
    inbox.write_meta("a.pdf", "second\n")
    assert inbox.meta_path("a.pdf").read_text() == "first\n"
    assert os.listdir(inbox.tmp) == []


def test_tmp_and_meta_removed_by_a_user_are_made_anew(inbox: InboxFolder) -> None:
    inbox.tmp.rmdir()
    inbox.meta.rmdir()
    inbox.write_meta("a.pdf", "sender: x\n")
    assert inbox.meta_path("a.pdf").read_text() == "sender: x\n"
    assert inbox.tmp.is_dir() and not inbox.tmp.is_symlink()


def test_a_tmp_that_is_a_file_is_an_error(inbox: InboxFolder) -> None:
    inbox.tmp.rmdir()
    inbox.tmp.write_bytes(b"not a folder")
    with pytest.raises(OSError, match=r"its \.tmp folder is a symbolic link or not a folder"):
        _received(inbox)


def test_clean_tmp_removes_leftovers_and_nothing_behind_a_link(
    inbox: InboxFolder, elsewhere: Path
) -> None:
    (inbox.tmp / "half.part").write_bytes(b"x")
    assert inbox.clean_tmp() == 1
    (elsewhere / "journal.db").write_bytes(SECRET)
    _swap_for_link(inbox, ".tmp", elsewhere)
    with pytest.raises(OSError):
        inbox.clean_tmp()
    assert _listing(elsewhere) == {"journal.db": SECRET}


def test_a_link_swapped_in_and_out_while_documents_arrive_never_leads_faxd_out(
    inbox: InboxFolder, elsewhere: Path
) -> None:
    # A user flips .tmp between faxd's folder and a link as fast as they can while faxd
    # writes and publishes: whatever each step meets, nothing lands in the link's target.
    real = inbox.path / ".tmp-real"
    stop = threading.Event()

    def flip() -> None:
        # Each step may fail: faxd makes a fresh .tmp/ whenever it finds none.
        steps: tuple[Callable[[], None], ...] = (
            lambda: os.rename(inbox.tmp, real),
            lambda: os.symlink(elsewhere, inbox.tmp),
            lambda: os.unlink(inbox.tmp) if inbox.tmp.is_symlink() else None,
            lambda: os.rename(real, inbox.tmp),
        )
        while not stop.is_set():
            for step in steps:
                with contextlib.suppress(OSError):
                    step()

    flipper = threading.Thread(target=flip)
    flipper.start()
    met: collections.Counter[str] = collections.Counter()
    try:
        for index in range(1000):
            try:
                sink = _received(inbox, f"document {index}".encode())
                met["published" if inbox.publish(sink, f"doc {index}.pdf") else "taken"] += 1
            except FileNotFoundError:
                met["gone"] += 1  # neither the folder nor the link was there at that moment
            except OSError as exc:
                assert exc.errno == errno.ELOOP, exc
                met["link"] += 1
    finally:
        stop.set()
        flipper.join()
    print(dict(met))
    assert met["published"] and met["link"], met
    assert os.listdir(elsewhere) == []
    for index in range(1000):
        doc = inbox.path / f"doc {index}.pdf"
        if doc.exists():
            assert doc.read_bytes() == f"document {index}".encode()


@pytest.mark.parametrize("with_renameat2", [True, False])
def test_rename_noreplace_at_moves_within_folder_descriptors_and_never_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_renameat2: bool
) -> None:
    if not with_renameat2:
        monkeypatch.setattr(fsops, "_LIBC", None)  # file systems without renameat2
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (src / "a").write_bytes(b"new")
    (dst / "b").write_bytes(b"kept")
    src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileExistsError):
            fsops.rename_noreplace_at(src_fd, "a", dst_fd, "b")
        assert (dst / "b").read_bytes() == b"kept"
        assert (src / "a").read_bytes() == b"new"
        fsops.rename_noreplace_at(src_fd, "a", dst_fd, "c")
    finally:
        os.close(src_fd)
        os.close(dst_fd)
    assert (dst / "c").read_bytes() == b"new"
    assert not (src / "a").exists()


@pytest.fixture
def full_disk(tmp_path: Path) -> collections.abc.Iterator[Path]:
    """A real file system of 256 KiB (tmpfs), mounted for the test: root only."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (and a mount namespace that allows it)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_download_that_fills_the_disk_leaves_nothing_in_tmp(full_disk: Path) -> None:
    # Closing the file flushed the same bytes again and failed again, so the removal
    # after it never ran: one .part was left behind at every poll.
    inbox = InboxFolder(full_disk / "inbox")
    inbox.ensure()
    filler = full_disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as fh:
        while True:
            fh.write(b"f" * 65536)
    for _ in range(3):
        # A small document: it sits in the file's buffer until the flush fails.
        with pytest.raises(OSError) as caught, inbox.tmp_file(max_size=1 << 30) as sink:
            sink.write(b"%PDF-1.4 a received page")
        assert caught.value.errno == errno.ENOSPC
    assert list((inbox.path / ".tmp").iterdir()) == []
