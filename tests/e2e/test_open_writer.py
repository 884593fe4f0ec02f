"""The real daemon against the sandbox: a file still held open by its writer is not sent
while the writer pauses between writes (SPEC §1.2): not on its own, not at a name whose
previous file is still being sent, not as another document's attachment; and one closed
before its new folder's watch began is not held back waiting for a close never heard."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, for_sandbox, wait_for

FIRST = b"page one of a scan that is not finished yet\n"
SECOND = b"page two, placed on the glass a while later\n"
# settle 0.3 s + sidecar_wait 0.5 s in the harness: a file quiet this long is sent by the
# quiet rule alone; the harness's rescan_interval (5 s), the wait for a missed close, is
# far off.
PAUSE = 2.5


def _watched(faxd: Faxd) -> Path:
    """A recipient subfolder, watched before anything is written into it: a file written
    before its watch is found by a scan, which knows nothing of writers."""
    folder = faxd.spool / "+46812345678"
    folder.mkdir(parents=True)
    faxd.start()
    wait_for(lambda: "faxd is running" in faxd.log_text(), 30, "the daemon to watch")
    return folder


def test_a_file_kept_open_between_writes_goes_once_whole_after_its_close(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    folder = _watched(faxd)
    path = folder / "slow.txt"
    with path.open("wb") as writer:
        writer.write(FIRST)
        writer.flush()
        time.sleep(PAUSE)
        assert sandbox.stats()["docs"]["uploads_by_sha256"] == {}, "sent while still open"
        assert path.exists(), "taken while still open"
        writer.write(SECOND)
    report = faxd.report_for("slow.txt")
    assert report["result"] == "delivered"
    uploads = sandbox.stats()["docs"]["uploads_by_sha256"]
    assert uploads == {hashlib.sha256(FIRST + SECOND).hexdigest(): 1}
    assert (faxd.sent / "+46812345678" / "slow.txt").read_bytes() == FIRST + SECOND


def test_a_file_opened_in_a_folder_made_a_moment_before_waits_for_its_close(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # Opened and written before the new folder's watch began, it is found by that
    # folder's scan, which knows nothing of its writer: its first page alone was faxed
    # and reported delivered, and sent/ held both pages.
    faxd.start()
    wait_for(lambda: "faxd is running" in faxd.log_text(), 30, "the daemon to watch")
    folder = faxd.spool / "+46831234567"
    folder.mkdir()
    path = folder / "new-folder.txt"
    with path.open("wb") as writer:
        writer.write(FIRST)
        writer.flush()
        time.sleep(PAUSE)
        assert _uploads(sandbox) == {}, "sent while still open"
        assert path.exists(), "taken while still open"
        writer.write(SECOND)
    report = faxd.report_for("new-folder.txt")
    assert report["result"] == "delivered"
    assert _uploads(sandbox) == {_sha(FIRST + SECOND): 1}


def test_a_closed_document_in_a_folder_moved_into_the_spool_goes_once_it_settles(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Made and written elsewhere, then moved in whole: the file was there before the
    # folder's watch began, as a scanner's first save into a new number's folder can be,
    # and no close of it is ever heard. The kernel says nobody has it open: it goes once
    # it settles, not after the 30 s faxd waits for a writer it cannot ask about (nor
    # after rescan_interval, when that is shorter: 5 s in the harness).
    faxd.overrides["rescan_interval"] = 60
    faxd.start()
    wait_for(lambda: "faxd is running" in faxd.log_text(), 30, "the daemon to watch")
    made = tmp_path / "elsewhere" / "+46831234567"
    made.mkdir(parents=True)
    (made / "moved.txt").write_bytes(FIRST)
    made.rename(faxd.spool / made.name)
    wait_for(lambda: _uploads(sandbox), 10, "the upload, long before 30 s")
    assert faxd.report_for("moved.txt")["result"] == "delivered"
    assert _uploads(sandbox) == {_sha(FIRST): 1}


def _uploads(sandbox: SandboxServer) -> dict[str, int]:
    uploads: dict[str, int] = sandbox.stats()["docs"]["uploads_by_sha256"]
    return uploads


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def slow_sandbox() -> Iterator[SandboxServer]:
    # Faxes stay "Sending" for 4 s: a document is in flight, its name claimed, that long.
    server = SandboxServer({"status_delay": 4}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slow(tmp_path: Path, slow_sandbox: SandboxServer) -> Iterator[Faxd]:
    instance = for_sandbox(Faxd, tmp_path, slow_sandbox)
    try:
        yield instance
    finally:
        instance.stop()


def test_a_name_written_again_while_its_last_file_is_sent_waits_for_the_close(
    slow: Faxd, slow_sandbox: SandboxServer
) -> None:
    # A scanner that saves every scan as scan.txt: the next scan is being written while
    # the last one is still being sent. Filing the last one frees the name; the half-written
    # next one must still wait for its writer.
    # The wait for a missed close (rescan_interval, 5 s in the harness) must not end first.
    slow.overrides["rescan_interval"] = 60
    folder = _watched(slow)
    path = folder / "scan.txt"
    path.write_bytes(b"the first scan\n")
    wait_for(lambda: _uploads(slow_sandbox), 30, "the first scan uploaded")
    with path.open("wb") as writer:  # the same name, rewritten while the first is in flight
        writer.write(FIRST)
        writer.flush()
        wait_for(lambda: "first scan" not in path.read_text(errors="replace"), 5, "rewritten")
        # The first is filed 4 s after its upload; the writer keeps going well past that.
        wait_for(lambda: slow.reports(), 30, "the first scan filed")
        time.sleep(PAUSE)
        assert _sha(FIRST) not in _uploads(slow_sandbox), "sent while still open"
        writer.write(SECOND)
    wait_for(lambda: _sha(FIRST + SECOND) in _uploads(slow_sandbox), 30, "the whole scan")
    assert _uploads(slow_sandbox) == {_sha(b"the first scan\n"): 1, _sha(FIRST + SECOND): 1}


def test_an_attachment_still_being_written_holds_its_document_back(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    folder = _watched(faxd)
    terms = folder / "terms.txt"
    with terms.open("wb") as writer:
        writer.write(FIRST)
        writer.flush()
        (folder / "order.txt.yaml").write_text('to: "+46812345678"\nattach: [terms.txt]\n')
        (folder / "order.txt").write_bytes(b"the order\n")
        time.sleep(PAUSE)
        assert _uploads(sandbox) == {}, "sent with its attachment still open"
        writer.write(SECOND)
    report = faxd.report_for("order.txt")
    assert report["result"] == "delivered"
    assert (faxd.sent / "+46812345678" / "terms.txt").read_bytes() == FIRST + SECOND
    assert not any(r["document"] == "terms.txt" for r in faxd.reports())
