"""The real daemon against the sandbox: a file still held open by its writer is not sent,
however long the writer pauses between writes (SPEC §1.2)."""

from __future__ import annotations

import hashlib
import time

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, wait_for

FIRST = b"page one of a scan that is not finished yet\n"
SECOND = b"page two, placed on the glass a while later\n"
# settle 0.3 s + sidecar_wait 0.5 s in the harness: a file quiet this long is sent by the
# quiet rule alone; the harness's rescan_interval (5 s), the wait for a missed close, is
# far off.
PAUSE = 2.5


def test_a_file_kept_open_between_writes_goes_once_whole_after_its_close(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    # The folder is watched before the file is written: a file written before its watch
    # is found by a scan, which knows nothing of writers.
    folder = faxd.spool / "+46812345678"
    folder.mkdir(parents=True)
    faxd.start()
    wait_for(lambda: "faxd is running" in faxd.log_text(), 30, "the daemon to watch")
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
