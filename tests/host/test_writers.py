"""What the kernel says of a file's writers, asked with a read lease taken and given back
at once (faxd.host.writers): nobody, a writer, or no answer; and asking never ends faxd,
even when a writer opens the file in the very moment the lease is held."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from faxd.host.writers import open_writers
from tests.leases import OTHER_UID, has_cap_lease, need_refusal, without_cap_lease


def _doc(tmp_path: Path, data: bytes = b"page one\n") -> tuple[Path, Path]:
    root = tmp_path / "spool"
    path = root / "+46812345678" / "scan.pdf"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return root, path


def test_a_closed_file_has_no_writer(tmp_path: Path) -> None:
    root, path = _doc(tmp_path)
    assert open_writers(root, path, path.stat().st_ino) == "none"


def test_a_file_a_writer_still_has_open_has_one_until_its_close(tmp_path: Path) -> None:
    root, path = _doc(tmp_path)
    ino = path.stat().st_ino
    reader = path.open("rb")  # readers are no writers
    with path.open("ab") as writer:
        writer.write(b"page two\n")
        assert open_writers(root, path, ino) == "writing"
    reader.close()
    assert open_writers(root, path, ino) == "none"


def test_a_writer_in_another_process_is_seen_too(tmp_path: Path) -> None:
    root, path = _doc(tmp_path)
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys; f = open(sys.argv[1], 'ab'); sys.stdin.read()", path],
        stdin=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while open_writers(root, path, path.stat().st_ino) != "writing":
            assert time.monotonic() < deadline, "the writer's open was never seen"
            time.sleep(0.01)
    finally:
        assert writer.stdin is not None
        writer.stdin.close()
        writer.wait(10)
    assert open_writers(root, path, path.stat().st_ino) == "none"


def test_another_file_at_the_name_or_a_link_gets_no_answer(tmp_path: Path) -> None:
    root, path = _doc(tmp_path)
    ino = path.stat().st_ino
    replacement = path.with_name(".new")
    replacement.write_bytes(b"another scan\n")
    replacement.rename(path)
    assert open_writers(root, path, ino) == "unknown"
    link = path.with_name("link.pdf")
    link.symlink_to(path)
    assert open_writers(root, link, path.stat().st_ino) == "unknown"
    assert open_writers(root, path.with_name("gone.pdf"), ino) == "unknown"


def test_a_file_of_another_user_without_cap_lease_is_refused(tmp_path: Path) -> None:
    need_refusal()
    root, path = _doc(tmp_path)
    mine = path.with_name("mine.pdf")
    mine.write_bytes(b"faxd's own\n")
    os.chown(path, OTHER_UID, OTHER_UID)
    had_it = has_cap_lease()
    with without_cap_lease():
        assert open_writers(root, path, path.stat().st_ino) == "refused"
        assert open_writers(root, mine, mine.stat().st_ino) == "none"
    if had_it:  # back for the rest of the run
        assert open_writers(root, path, path.stat().st_ino) == "none"


def test_a_writer_opening_the_file_while_the_lease_is_held_ends_nothing(tmp_path: Path) -> None:
    # The kernel tells a lease's holder that a writer waits with SIGIO, whose default ends
    # the process: faxd (this test run) must live through writers opening the file again
    # and again while it asks.
    root, path = _doc(tmp_path)
    ino = path.stat().st_ino
    opener = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "end = time.monotonic() + float(sys.argv[2])\n"
            "while time.monotonic() < end:\n"
            "    os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND))\n",
            path,
            "3",
        ]
    )
    answers: set[str] = set()
    while opener.poll() is None:
        answers.add(open_writers(root, path, ino))
    assert opener.returncode == 0
    assert answers <= {"none", "writing"}
    assert "writing" in answers
