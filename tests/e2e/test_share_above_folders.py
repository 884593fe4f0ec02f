"""The daemon against the sandbox, with its spool folder and inbox below one share mounted
higher up (the NAS at /srv/fax, the folders /srv/fax/out and /srv/fax/in): a tmpfs stands
in for the NAS, bound onto ROOT/share as a client mounts it. Both folders are on the file
system of the folder holding them whether the share is mounted or not; unmounted, the
share leaves ROOT/share behind, and folders made below it by hand are neither taken from
nor delivered into. The share back under another device number, as a network share comes
back at each mount, is taken without a restart. Mounts need root."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from faxd.sandbox.server import SandboxServer
from tests.real_mounts import RealMounts, real_mounts

from .harness import Faxd, for_sandbox, pdf, wait_for
from .received_faxes import arrived, fax

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TO = "+46812345678"
HELD = "is not on the file system faxd delivered into"


@pytest.fixture
def mounts() -> Iterator[RealMounts]:
    yield from real_mounts()


def drop(spool: Path, name: str) -> None:
    """As a careful program saves a document: a hidden temporary name, then a rename."""
    box = spool / TO
    box.mkdir(exist_ok=True)
    (box / f".{name}.partial").write_bytes(pdf(name))
    (box / f".{name}.partial").rename(box / name)


def test_a_share_mounted_above_the_folders_is_held_while_away_and_taken_back_under_a_new_number(
    tmp_path: Path, mounts: RealMounts
) -> None:
    export = tmp_path / "nas-export"
    mounts.tmpfs(export)
    for name in ("spool", "inbox"):
        (export / name).mkdir()
    share = tmp_path / "share"
    share.mkdir()
    mounts.bind(export, share)
    spool, inbox = share / "spool", share / "inbox"
    with SandboxServer({"status_delay": 4.0}) as sandbox:
        faxd = for_sandbox(Faxd, tmp_path, sandbox)
        faxd.folders = [{"path": str(spool)}]
        # sent/ and failed/ on the share too: files move by rename, on one file system.
        faxd.overrides.update(
            {"sent_dir": str(spool / "sent"), "failed_dir": str(spool / "failed")}
        )
        faxd.inbox = {"path": str(inbox), "poll_interval": 0.5}
        faxd.start()
        try:
            for i in range(2):
                drop(spool, f"nas-{i}.pdf")
            wait_for(lambda: sandbox.stats()["docs"]["send_requests"] >= 2, 30, "the uploads")
            fax(sandbox, "before")
            wait_for(lambda: arrived(inbox, "before"), 30, "the first fax, on the share")
            # The share goes; ROOT/share stays behind, and the folders are made below it
            # again by hand, as the bare mount point's own would be there.
            mounts.unmount(share)
            spool.mkdir()
            inbox.mkdir()
            # As systemd's ReadWritePaths= binds ROOT/share onto itself in faxd's unit when
            # faxd starts while nothing is mounted there: a mount, but no file system of
            # its own, so still the bare mount point.
            mounts.bind(share, share)
            drop(spool, "bare.pdf")
            meanwhile = fax(sandbox, "meanwhile")
            time.sleep(8)  # past a rescan (every 5 s here) and many inbox polls
            assert sandbox.stats()["docs"]["send_requests"] == 2
            assert list(inbox.iterdir()) == []  # nothing delivered, nor .tmp/ made
            assert sorted(p.name for p in spool.rglob("*")) == [TO, "bare.pdf"]
            log = faxd.log_text()
            assert HELD in log and f"is {share} the bare mount point of a share" in log
            assert "spool folder is not on the file system faxd took documents from" in log
            # Back as another file system holding a copy of the first one's files.
            again = tmp_path / "nas-export-again"
            mounts.tmpfs(again)
            subprocess.run(["cp", "-a", f"{export}/.", str(again)], check=True)
            assert os.stat(again).st_dev != os.stat(export).st_dev
            mounts.bind(again, share)
            drop(spool, "after.pdf")
            sent = spool / "sent" / TO
            for name in ("nas-0.pdf", "nas-1.pdf", "after.pdf"):
                path = sent / f"{name}.report.yaml"
                wait_for(path.exists, 120, f"the report of {name}")
                report = yaml.safe_load(path.read_text())
                assert report["result"] == "delivered"
                assert "notes" not in report, report
            wait_for(lambda: arrived(inbox, "meanwhile"), 30, "the fax that waited, on the share")
            assert arrived(inbox, "meanwhile") == [meanwhile]
            assert sorted(sandbox.stats()["docs"]["uploads_by_sha256"].values()) == [1, 1, 1]
            log = faxd.log_text()
            assert "spool folder is on another mounted file system now" in log
            assert "the inbox folder is on another mounted file system now" in log
            assert "inbox poll works again" in log
            assert faxd.alive()
        finally:
            faxd.stop()
    mounts.unmount(share)  # the share off again: what was saved below its bare mount point
    assert (spool / TO / "bare.pdf").read_bytes() == pdf("bare.pdf")  # never sent
    assert list(inbox.iterdir()) == []
