"""Reading and moving only what faxd checked: links, FIFOs, devices, folders swapped for
links, and files rewritten after they were taken."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faxd.host import contained
from faxd.host.fsops import NotRegularFileError

SECRET = b"api-key-0123456789-do-not-leak"


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    root = tmp_path / "spool"
    (root / "+46812345678").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "key").write_bytes(SECRET)
    (tmp_path / "private" / "a.pdf").write_bytes(SECRET)
    return root


def _refused(call: object, *args: object) -> str:
    with pytest.raises(NotRegularFileError) as caught:
        call(*args)  # type: ignore[operator]
    message = str(caught.value)
    assert SECRET.decode() not in message
    return message


def test_a_link_in_place_of_the_file_is_refused(spool: Path) -> None:
    link = spool / "a.yaml"
    link.symlink_to(spool.parent / "private" / "key")
    assert "symbolic link" in _refused(contained.read_beneath, spool, link, 65536)


def test_a_recipient_folder_swapped_for_a_link_is_not_followed(spool: Path) -> None:
    folder = spool / "+46812345678"
    folder.rmdir()
    folder.symlink_to(spool.parent / "private")
    message = _refused(contained.open_beneath, spool, folder / "a.pdf")
    assert "'+46812345678'" in message


@pytest.mark.parametrize("kind", ["fifo", "dir", "dev-zero-link"])
def test_special_files_are_refused_without_blocking_or_reading(spool: Path, kind: str) -> None:
    path = spool / "a.pdf.yaml"
    if kind == "fifo":
        os.mkfifo(path)  # no writer: a blocking open would hang here for ever
    elif kind == "dir":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    _refused(contained.read_beneath, spool, path, 65536)


def test_a_file_over_the_cap_is_refused(spool: Path) -> None:
    path = spool / "big.yaml"
    path.write_bytes(b"x" * 70_000)
    assert "at most 64.0 KiB" in _refused(contained.read_beneath, spool, path, 65536)


def test_the_snapshot_keeps_the_bytes_taken_whatever_is_written_later(
    spool: Path, tmp_path: Path
) -> None:
    doc = spool / "+46812345678" / "a.pdf"
    doc.write_bytes(b"%PDF- version one")
    snap = contained.snapshot(spool, doc, tmp_path / "work" / "a.pdf", 1 << 20)
    with doc.open("r+b") as rewrite:  # `cat v2 > a.pdf`: same inode, new content
        rewrite.truncate(0)
        rewrite.write(b"%PDF- version two, longer")
    assert snap.path.read_bytes() == b"%PDF- version one"
    assert snap.source.ino == doc.stat().st_ino
    assert not snap.source.unchanged(doc.stat())


def test_a_hard_linked_file_is_not_copied(spool: Path, tmp_path: Path) -> None:
    doc = spool / "a.pdf"
    os.link(spool.parent / "private" / "a.pdf", doc)
    _refused(contained.snapshot, spool, doc, tmp_path / "work" / "a.pdf", 1 << 20)
    assert not (tmp_path / "work" / "a.pdf").exists()


def test_filing_moves_only_the_file_that_was_taken(spool: Path, tmp_path: Path) -> None:
    sent = tmp_path / "sent"
    doc = spool / "+46812345678" / "a.pdf"
    doc.write_bytes(b"%PDF- one")
    taken = contained.Identity.of(doc.stat())
    dst = sent / "+46812345678" / "a.pdf"

    doc.write_bytes(b"%PDF- two")  # rewritten in place after it was taken
    assert contained.move_checked(spool, doc, sent, dst, taken) == "changed"
    assert doc.read_bytes() == b"%PDF- two" and not dst.exists()

    doc.unlink()
    doc.write_bytes(b"%PDF- one")  # replaced by a new file (a new inode)
    assert contained.move_checked(spool, doc, sent, dst, taken) == "changed"

    now = contained.Identity.of(doc.stat())
    assert contained.move_checked(spool, doc, sent, dst, now) == "moved"
    assert dst.read_bytes() == b"%PDF- one" and not doc.exists()


def test_filing_through_a_swapped_folder_moves_nothing_from_outside(
    spool: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "private"
    folder = spool / "+46812345678"
    folder.rmdir()
    folder.symlink_to(outside)
    result = contained.move_checked(
        spool, folder / "a.pdf", tmp_path / "sent", tmp_path / "sent" / "a.pdf", None
    )
    assert result == "missing"
    assert (outside / "a.pdf").read_bytes() == SECRET
    assert not (tmp_path / "sent" / "a.pdf").exists()


def test_a_destination_folder_swapped_for_a_link_is_not_written_through(
    spool: Path, tmp_path: Path
) -> None:
    sent = tmp_path / "sent"
    sent.mkdir()
    (sent / "+46812345678").symlink_to(tmp_path / "private")
    doc = spool / "+46812345678" / "b.pdf"
    doc.write_bytes(b"%PDF- b")
    with pytest.raises(NotRegularFileError):
        contained.move_checked(spool, doc, sent, sent / "+46812345678" / "b.pdf", None)
    assert doc.exists() and not (tmp_path / "private" / "b.pdf").exists()


def test_a_copy_never_overwrites(tmp_path: Path) -> None:
    source = tmp_path / "snap.pdf"
    source.write_bytes(b"%PDF- delivered")
    dst = tmp_path / "sent" / "a.pdf"
    contained.copy_in(source, tmp_path / "sent", dst)
    assert dst.read_bytes() == b"%PDF- delivered"
    with pytest.raises(FileExistsError):
        contained.copy_in(source, tmp_path / "sent", dst)
    assert [p.name for p in dst.parent.iterdir()] == ["a.pdf"]  # no temp file left
