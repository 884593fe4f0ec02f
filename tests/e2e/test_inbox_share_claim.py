"""The daemon against the sandbox, with an inbox folder that is a share's mount point (a
tmpfs stands in for the NAS, bound onto the inbox path as a client mounts it): the claim
on the inbox (`.faxd.lock`, one faxd per folder) is taken when the share comes back, as a
spool folder's is. A faxd that started while the share was away never claimed the inbox
that run, and one whose share came back as another mount kept its claim on the old one: a
second faxd (a second server mounting the same share) could claim the inbox meanwhile,
and both delivered every received document into it. Mounts need root."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.host.folder_claims import CLAIM_NAME
from faxd.sandbox.server import SandboxServer
from tests.real_mounts import RealMounts, real_mounts

from .harness import Faxd, for_sandbox, wait_for
from .received_faxes import arrived, fax

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POLL_INTERVAL = 0.5
AWAY = "is not on the file system faxd delivered into"


@pytest.fixture
def mounts() -> Iterator[RealMounts]:
    yield from real_mounts()


def inbox_faxd(root: Path, server: SandboxServer, inbox: Path) -> Faxd:
    root.mkdir(exist_ok=True)
    faxd = for_sandbox(Faxd, root, server)
    faxd.inbox = {"path": str(inbox), "poll_interval": POLL_INTERVAL, "delete_after_download": True}
    return faxd


def pid_of(faxd: Faxd) -> int:
    assert faxd.proc is not None
    return faxd.proc.pid


def locked_by_another_process(folder: Path) -> bool:
    """Whether a process holds the POSIX lock on the folder's claim (POSIX locks are per
    process: this one sees another's, never its own)."""
    fd = os.open(folder / CLAIM_NAME, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        assert exc.errno in (errno.EAGAIN, errno.EACCES)
        return True
    finally:
        os.close(fd)
    return False


def status(faxd: Faxd) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "faxd", "status", "--config", str(faxd.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_an_inbox_away_at_start_is_claimed_once_back_and_not_delivered_into_while_another_holds_it(
    mounts: RealMounts, tmp_path: Path
) -> None:
    share = mounts.tmpfs(tmp_path / "nas-export")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mounts.bind(share, inbox)
    with SandboxServer({"status_delay": 0.3}) as ours, SandboxServer({}) as theirs:
        faxd = inbox_faxd(tmp_path / "here", ours, inbox)
        # A second server mounting the same share at a mount point of its own, whose faxd
        # receives nothing (a provider of its own), so every fax in the share is ours.
        other_inbox = tmp_path / "other-inbox"
        other_inbox.mkdir()
        other = inbox_faxd(tmp_path / "other", theirs, other_inbox)
        try:
            faxd.start()
            fax(ours, "before")
            wait_for(lambda: arrived(share, "before"), 30, "the first fax, on the share")
            assert faxd.stop() == 0
            mounts.unmount(inbox)
            faxd.start()  # the machine started without its share: not claimed this run
            wait_for(lambda: AWAY in faxd.log_text(), 30, "the restarted faxd to hold the inbox")
            assert list(inbox.iterdir()) == []
            mounts.bind(share, other_inbox)
            other.start()
            wait_for(lambda: "faxd is running" in other.log_text(), 30, "the other faxd")
            assert f"pid {pid_of(other)} on " in (share / CLAIM_NAME).read_text()
            content = fax(ours, "meanwhile")
            mounts.bind(share, inbox)  # the share is back, another faxd's by now
            refused = f"{inbox} is worked by another faxd (pid {pid_of(other)} on "
            wait_for(lambda: refused in faxd.log_text(), 30, "faxd to say who holds the inbox")
            assert "two would deliver every received document into it twice" in faxd.log_text()
            time.sleep(6 * POLL_INTERVAL)
            assert arrived(share, "meanwhile") == []  # waiting at the provider
            assert len(ours.stats()["docs"]["deleted"]) == 1
            wait_for(lambda: refused in status(faxd), 30, "faxd status to say so")
            assert faxd.alive()
            # The other faxd stops: the inbox is this one's, and the fax that waited comes.
            assert other.stop() == 0
            wait_for(lambda: arrived(share, "meanwhile"), 30, "the fax that waited")
            assert arrived(share, "meanwhile") == [content]
            assert f"pid {pid_of(faxd)} on " in (share / CLAIM_NAME).read_text()
            assert locked_by_another_process(share)
            wait_for(lambda: len(ours.stats()["docs"]["deleted"]) == 2, 30, "its delete")
        finally:
            other.stop()
            faxd.stop()


def test_the_inbox_is_claimed_again_when_its_share_comes_back_under_another_device_number(
    mounts: RealMounts, tmp_path: Path
) -> None:
    export = mounts.tmpfs(tmp_path / "nas-export")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mounts.bind(export, inbox)
    with SandboxServer({"status_delay": 0.3}) as ours, SandboxServer({}) as theirs:
        faxd = inbox_faxd(tmp_path / "here", ours, inbox)
        other_inbox = tmp_path / "other-inbox"
        other_inbox.mkdir()
        other = inbox_faxd(tmp_path / "other", theirs, other_inbox)
        try:
            faxd.start()
            fax(ours, "before")
            wait_for(lambda: arrived(export, "before"), 30, "the first fax, on the share")
            assert locked_by_another_process(export)  # claimed at start
            mounts.unmount(inbox)
            wait_for(lambda: AWAY in faxd.log_text(), 30, "the inbox to be held")
            # Back as another file system, as a network share comes back at each mount:
            # what the claim held went with the old one.
            again = mounts.tmpfs(tmp_path / "nas-export-again")
            subprocess.run(["cp", "-a", f"{export}/.", str(again)], check=True)
            assert os.stat(again).st_dev != os.stat(export).st_dev
            mounts.bind(again, inbox)
            content = fax(ours, "after")
            wait_for(lambda: arrived(again, "after"), 30, "the fax, on the share back")
            assert arrived(again, "after") == [content]
            assert locked_by_another_process(again)
            # A second server's faxd mounting the share finds it held.
            mounts.bind(again, other_inbox)
            other.start()
            wait_for(lambda: other.proc is not None and other.proc.poll() is not None, 30, "exit")
            assert other.stop() == 2
            assert f"is worked by another faxd (pid {pid_of(faxd)} on " in other.log_text()
            assert faxd.alive()
        finally:
            other.stop()
            faxd.stop()
