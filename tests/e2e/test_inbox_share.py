"""The daemon against the sandbox, with an inbox folder that is itself a share's mount
point: a tmpfs stands in for the NAS, bound onto the inbox path as a client mounts it.
Unmounted, the share leaves the folder behind, empty, on the disk that holds it; faxd
delivers nothing into it, and delivers what waited once the share is back. Mounts need
root; tests/inbound/test_inbox_share.py simulates them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from faxd.sandbox.server import SandboxServer
from tests.real_mounts import RealMounts, real_mounts

from .harness import Faxd, for_sandbox, wait_for
from .received_faxes import arrived, fax

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POLL_INTERVAL = 0.5
HELD = "is not on the file system faxd delivered into"


@pytest.fixture
def mounts() -> Iterator[RealMounts]:
    yield from real_mounts()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[..., tuple[SandboxServer, Faxd]]]:
    """`run(**inbox)`: a sandbox and faxd polling it into `tmp_path/inbox`."""
    started: list[tuple[SandboxServer, Faxd]] = []

    def start(**inbox: Any) -> tuple[SandboxServer, Faxd]:
        server = SandboxServer({"status_delay": 0.3}).start()
        faxd = for_sandbox(Faxd, tmp_path, server)
        started.append((server, faxd))
        faxd.inbox = {"path": str(tmp_path / "inbox"), "poll_interval": POLL_INTERVAL, **inbox}
        faxd.start()
        return server, faxd

    try:
        yield start
    finally:
        for server, faxd in started:
            faxd.stop()
            server.stop()


def held_said(faxd: Faxd) -> int:
    """How often the log said so (debug lines aside: every poll has one)."""
    return sum(
        1
        for line in faxd.log_text().splitlines()
        if HELD in line and '"level": "debug"' not in line
    )


def status(faxd: Faxd) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "faxd", "status", "--config", str(faxd.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_faxes_wait_at_the_provider_while_the_inbox_share_is_away_even_over_a_restart(
    mounts: RealMounts, run: Any, tmp_path: Path
) -> None:
    share = mounts.tmpfs(tmp_path / "nas-export")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mounts.bind(share, inbox)
    server, faxd = run(delete_after_download=True)
    fax(server, "before")
    wait_for(lambda: arrived(share, "before"), 30, "the first fax, on the share")
    mounts.unmount(inbox)  # the share goes; its mount point stays behind, empty
    content = fax(server, "meanwhile")
    wait_for(lambda: held_said(faxd) >= 1, 30, "the inbox to be held")
    time.sleep(6 * POLL_INTERVAL)
    assert held_said(faxd) == 1  # once for the outage, not once per poll
    assert list(inbox.iterdir()) == []  # nothing delivered, nor .tmp/ made, on the bare point
    assert len(server.stats()["docs"]["deleted"]) == 1  # the fax waiting is not deleted
    wait_for(lambda: HELD in status(faxd), 30, "faxd status to say so")
    assert faxd.stop() == 0
    faxd.start()  # the machine started without its share: still held
    wait_for(lambda: held_said(faxd) >= 2, 30, "the restarted faxd to hold the inbox")
    time.sleep(4 * POLL_INTERVAL)
    assert list(inbox.iterdir()) == []  # not even faxd's claim on the folder
    mounts.bind(share, inbox)
    wait_for(lambda: arrived(share, "meanwhile"), 30, "the fax that waited, on the share")
    assert arrived(share, "meanwhile") == [content]
    # Said once the poll that delivered it has ended, a moment after the file is there.
    wait_for(lambda: "inbox poll works again" in faxd.log_text(), 30, "the poll to say so")
    wait_for(lambda: len(server.stats()["docs"]["deleted"]) == 2, 30, "its delete")


def test_a_new_disk_mounted_on_the_inbox_is_taken_and_a_local_folder_needs_accept_inbox(
    mounts: RealMounts, run: Any, tmp_path: Path
) -> None:
    old = mounts.tmpfs(tmp_path / "old-disk")
    new = mounts.tmpfs(tmp_path / "new-disk")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mounts.bind(old, inbox)
    server, faxd = run()
    fax(server, "first")
    wait_for(lambda: arrived(old, "first"), 30, "the first fax, on the old disk")
    # The admin mounts a new disk there: whatever is mounted on the folder is the inbox.
    mounts.unmount(inbox)
    mounts.bind(new, inbox)
    fax(server, "second")
    wait_for(lambda: arrived(new, "second"), 30, "the second fax, on the new disk")
    assert "another mounted file system" in faxd.log_text()
    assert held_said(faxd) == 0
    # Then gives up the disk for a folder on the one holding the inbox: that looks like a
    # share away, and waits until the admin says it was meant.
    mounts.unmount(inbox)
    content = fax(server, "third")
    wait_for(lambda: held_said(faxd) >= 1, 30, "the inbox to be held")
    assert list(inbox.iterdir()) == []
    done = subprocess.run(
        [sys.executable, "-m", "faxd", "accept-inbox", "--config", str(faxd.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"faxd delivers into {inbox} on the file system it is on now" in done.stdout
    wait_for(lambda: arrived(inbox, "third"), 30, "the third fax, in the local folder")
    assert arrived(inbox, "third") == [content]
