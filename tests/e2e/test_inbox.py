"""The inbox end to end: the real daemon against the sandbox over HTTP.

A server that stamps its offset-less times in another zone than faxd assumes, a remote
file named like another document's metadata, a recipient listed as an array, a document
listed before its files are there, a download that trickles, a reload in the middle of a
download, a received document hidden in a second that holds a full page of others, a route's
folder inside the inbox swapped for a symbolic link, and an inbox on a share that is
unmounted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, for_sandbox, pdf, wait_for

OURS = "+4612345678"  # the folders' sender: ours
OTHER_OURS = "+4612345670"  # listed under inbox.numbers
STRANGER = "+4698765432"
SENDER = "+46927654321"
POLL_INTERVAL = 0.5
ROUTED = "+4612345679"  # a route's number, its folder inside the inbox


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Any]:
    """`run(scenario, **inbox)`: a sandbox with that scenario and faxd polling it."""
    started: list[tuple[SandboxServer, Faxd]] = []

    def start(scenario: dict[str, Any], **inbox: Any) -> tuple[SandboxServer, Faxd]:
        server = SandboxServer({"status_delay": 0.3, **scenario}).start()
        faxd = for_sandbox(Faxd, tmp_path, server)
        started.append((server, faxd))
        faxd.inbox = {
            "path": str(tmp_path / "inbox"),
            "poll_interval": POLL_INTERVAL,
            "numbers": [OTHER_OURS],
            **inbox,
        }
        faxd.start()
        return server, faxd

    try:
        yield start
    finally:
        for server, faxd in started:
            faxd.stop()
            server.stop()


def inbox_documents(faxd: Faxd) -> dict[str, bytes]:
    inbox = faxd.root / "inbox"
    if not inbox.is_dir():
        return {}
    # Received documents never start with a dot; faxd's claim on the folder (.faxd.lock) does.
    return {
        p.name: p.read_bytes()
        for p in inbox.iterdir()
        if p.is_file() and not p.name.startswith(".")
    }


def meta_of(faxd: Faxd, name: str) -> dict[str, Any]:
    data = yaml.safe_load((faxd.root / "inbox" / ".meta" / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def polled(server: SandboxServer, times: int = 1) -> bool:
    return int(server.stats()["docs"]["requests"].get("retrieve", 0)) >= times


def received(content: bytes, name: str, recipient: Any = OURS, **extra: Any) -> dict[str, Any]:
    return {
        "sender": SENDER,
        "recipient": recipient,
        "files": [{"fileName": name, "content_base64": _b64(content)}],
        **extra,
    }


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def wait_documents(faxd: Faxd, count: int, timeout: float = 40) -> dict[str, bytes]:
    try:
        wait_for(lambda: len(inbox_documents(faxd)) >= count, timeout, f"{count} documents")
    except AssertionError:
        raise AssertionError(
            f"inbox holds {sorted(inbox_documents(faxd))}; log:\n{faxd.log_text()[-4000:]}"
        ) from None
    return inbox_documents(faxd)


def error_lines(faxd: Faxd) -> list[str]:
    return [line for line in faxd.log_text().splitlines() if '"level": "error"' in line]


def journal_rows(faxd: Faxd) -> list[sqlite3.Row]:
    db = sqlite3.connect(f"file:{faxd.state / 'journal.sqlite'}?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        return list(db.execute("SELECT * FROM inbound"))
    finally:
        db.close()


@pytest.mark.parametrize("server_zone", ["Pacific/Kiritimati", "America/Los_Angeles"])
def test_documents_arrive_from_a_server_in_another_zone_with_their_own_metadata(
    run: Any, server_zone: str
) -> None:
    """faxd reads the API's times as Europe/Stockholm; this server stamps them 13 h ahead
    or 9 h behind. Every document arriving after faxd's first poll still arrives, once."""
    server, faxd = run({"timezone": server_zone})
    wait_for(lambda: polled(server, 2), 30, "two polls")
    contents = {key: pdf(key) for key in ("scan", "array", "late")}
    # Text, as a sender's YAML file is: a PDF so named would be given .pdf to open.
    contents["scan-yaml"] = b"id: not this document's metadata\n"
    # One second for both (their inbox names are stamped to the second), local to the server.
    now = datetime.now(server.scenario.tz).replace(microsecond=0, tzinfo=None).isoformat()
    server.add_received(received(contents["scan"], "scan.pdf", faxTime=now))
    server.add_received(received(contents["scan-yaml"], "scan.pdf.yaml", faxTime=now))
    server.add_received(received(contents["array"], "array.pdf", [STRANGER, OTHER_OURS]))
    server.add_received(received(contents["late"], "late.pdf", ready_after=2))
    got = wait_documents(faxd, 4)
    assert sorted(got.values()) == sorted(contents.values())
    by_content = {content: name for name, content in got.items()}
    # The remote "scan.pdf.yaml" is a document; each document's metadata is its own.
    scan, scan_yaml = by_content[contents["scan"]], by_content[contents["scan-yaml"]]
    assert scan_yaml == f"{scan}.yaml"
    assert meta_of(faxd, scan)["original_name"] == "scan.pdf"
    assert meta_of(faxd, scan_yaml)["original_name"] == "scan.pdf.yaml"
    assert meta_of(faxd, by_content[contents["array"]])["recipient"] == OTHER_OURS
    assert "not complete yet" in faxd.log_text()
    assert error_lines(faxd) == []


def test_a_trickling_download_does_not_hold_up_the_others(run: Any) -> None:
    """One file comes at 10 bytes a second (it would take 200 s): it is stopped at its
    deadline, the others arrive, and it is fetched again on a later poll, said once."""
    slow = pdf("slow") + b"%" * 1800
    quick = [pdf(f"quick-{i}") for i in range(3)]
    scenario = {
        "received": [
            received(slow, "slow.pdf", OTHER_OURS, faxTime="-2m"),
            *(received(q, f"quick-{i}.pdf", faxTime="-1m") for i, q in enumerate(quick)),
        ],
        "faults": [
            {
                "api": "docs",
                "endpoint": "file",
                "action": "slow_body",
                "chunk": 10,
                "delay": 1.0,
                "match": OTHER_OURS,
            }
        ],
    }
    server, faxd = run(scenario, download_timeout=2)
    got = wait_documents(faxd, 4, timeout=60)
    assert sorted(got.values()) == sorted([slow, *quick])
    assert faxd.log_text().count("downloads too slowly") == 1
    fired = [f for f in server.stats()["faults"]["fired"] if f["action"] == "slow_body"]
    assert len(fired) == 1
    assert error_lines(faxd) == []


def test_a_reload_during_a_download_leaves_one_poller_and_a_true_row(run: Any) -> None:
    """SIGHUP while a file trickles in: the old poller stops before the new one starts,
    nothing deletes a file under a download, and the delivered row names the real file."""
    content = pdf("reload") + b"%" * 300
    scenario = {
        "received": [received(content, "reload.pdf", faxTime="-1m")],
        "faults": [
            {"api": "docs", "endpoint": "file", "action": "slow_body", "chunk": 10, "delay": 0.5}
        ],
    }
    _server, faxd = run(scenario)
    tmp = faxd.root / "inbox" / ".tmp"
    wait_for(lambda: tmp.is_dir() and any(tmp.iterdir()), 30, "the download to start")
    assert faxd.proc is not None
    faxd.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in faxd.log_text(), 30, "the reload")
    got = wait_documents(faxd, 1)
    assert list(got.values()) == [content]
    # The old poller has ended (in the old code it went on trickling for half a minute
    # and then rewrote the row), and nothing of it is left behind.
    wait_for(lambda: "inbox poller stopped" in faxd.log_text(), 60, "the old poller to end")
    wait_for(lambda: not any(tmp.iterdir()), 30, "an empty .tmp")
    wait_for(lambda: [r["state"] for r in journal_rows(faxd)] == ["delivered"], 30, "the commit")
    (row,) = journal_rows(faxd)
    assert Path(row["path"]).read_bytes() == content
    assert list(inbox_documents(faxd).values()) == [content]
    assert error_lines(faxd) == []


def test_a_document_in_a_second_holding_a_full_page_of_others_is_fetched(run: Any) -> None:
    """100 transmissions of one second fill a listing page; the received document of
    that same second comes after them. faxd lists the second in fractions."""
    tz = ZoneInfo("Europe/Stockholm")
    second = datetime.now(tz).replace(microsecond=0, tzinfo=None) - timedelta(seconds=30)
    others = [
        received(pdf(f"out-{i}"), f"out-{i}.pdf", STRANGER)
        | {"faxTime": (second + timedelta(milliseconds=4 * i + 1)).isoformat()}
        for i in range(100)
    ]
    ours = pdf("hidden") + b"% ours"
    hidden = received(ours, "hidden.pdf") | {
        "faxTime": (second + timedelta(milliseconds=900)).isoformat()
    }
    _server, faxd = run({"received": [*others, hidden]})
    got = wait_documents(faxd, 1)
    assert list(got.values()) == [ours]
    assert "full page" not in faxd.log_text()
    assert error_lines(faxd) == []


def test_a_route_folder_swapped_for_a_link_gets_nothing_written_or_removed(
    run: Any, tmp_path: Path
) -> None:
    """Staff who may write in the inbox replace the route's folder `support` with a link
    to another folder. faxd neither clears that folder's `.tmp/` at its start nor writes a
    received fax there: it says so, and delivers into a real `support` once it is back."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / ".tmp").mkdir(parents=True)
    (elsewhere / ".tmp" / "keep.part").write_bytes(b"not faxd's")
    support = tmp_path / "inbox" / "support"
    server, faxd = run({}, routes={ROUTED: str(support)})
    wait_for(lambda: (support / ".tmp").is_dir(), 30, "the route's folder")
    faxd.stop()
    support.rename(tmp_path / "support.moved")
    support.symlink_to(elsewhere, target_is_directory=True)
    faxd.start()
    content = pdf("routed")
    server.add_received(received(content, "routed.pdf", ROUTED))
    wait_for(lambda: "does not follow links" in faxd.log_text(), 30, "the link to be refused")
    # Every poll tries again and says nothing new: give a few of them the chance to go
    # through the link.
    time.sleep(4 * POLL_INTERVAL)
    assert sorted(p.relative_to(elsewhere) for p in elsewhere.rglob("*")) == [
        Path(".tmp"),
        Path(".tmp/keep.part"),
    ]
    os.unlink(support)
    wait_for(lambda: support.is_dir() and any(support.glob("*routed.pdf")), 30, "the fax")
    assert [p.read_bytes() for p in support.glob("*routed.pdf")] == [content]


def test_an_inbox_on_a_share_that_is_unmounted_gets_no_fresh_folder_on_the_mount_point(
    run: Any, tmp_path: Path
) -> None:
    """The inbox lives on a share; the share drops while faxd runs, and is still away when
    faxd restarts. A fresh inbox made on the bare mount point would take the fax (and,
    with delete_after_download, delete the provider's copy) only for it to vanish under
    the share once it is back. faxd says the inbox is away, leaves the fax at the
    provider, and delivers it into the share once it is mounted again."""
    exported = tmp_path / "server"
    exported.mkdir()
    share = tmp_path / "share"
    share.mkdir()
    if subprocess.run(["mount", "--bind", exported, share], check=False).returncode:
        pytest.skip("cannot bind-mount here")
    inbox = share / "inbox"
    try:
        server, faxd = run({}, path=str(inbox), delete_after_download=True)
        server.add_received(received(pdf("before"), "before.pdf"))
        wait_for(lambda: any(inbox.glob("*before.pdf")), 30, "the first fax")
        subprocess.run(["umount", "-l", share], check=True)
        content = pdf("meanwhile")
        server.add_received(received(content, "meanwhile.pdf"))
        wait_for(lambda: "is not there" in faxd.log_text(), 30, "the inbox to be missed")
        faxd.stop()
        faxd.start()
        wait_for(lambda: faxd.log_text().count("is not there") >= 2, 30, "the restart's poll")
        time.sleep(4 * POLL_INTERVAL)
        assert list(share.iterdir()) == []
        subprocess.run(["mount", "--bind", exported, share], check=True)
        wait_for(lambda: any(inbox.glob("*meanwhile.pdf")), 30, "the fax")
        assert [p.read_bytes() for p in inbox.glob("*meanwhile.pdf")] == [content]
    finally:
        subprocess.run(["umount", "-l", share], check=False)
