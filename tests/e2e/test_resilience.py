"""What the daemon must survive: polling without inotify, a spool that vanishes for a
while, a provider that is not there yet, and hostile file names."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, pdf, wait_for

pytestmark = pytest.mark.slow


def test_polling_mode_and_a_vanished_spool_count_as_an_outage(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    faxd.overrides.update({"watch": "poll", "rescan_interval": 1})
    faxd.start()
    faxd.drop("+46812345678/before.pdf", pdf("before"))
    faxd.report_for("before.pdf")
    # The share goes away (unmounted, renamed) with two documents in it …
    faxd.drop("+46812345678/waiting-1.pdf", pdf("w1"))
    faxd.drop("+46812345678/waiting-2.pdf", pdf("w2"))
    away = tmp_path / "spool.off"
    faxd.spool.rename(away)
    time.sleep(3)
    assert faxd.alive()
    # … and comes back: everything is sent, each exactly once.
    away.rename(faxd.spool)
    for name in ("waiting-1.pdf", "waiting-2.pdf"):
        assert faxd.report_for(name, timeout=60)["result"] == "delivered"
    uploads = sandbox.stats()["docs"]["uploads_by_sha256"]
    assert sorted(uploads.values()) == [1, 1, 1]


def test_a_provider_that_refuses_connections_is_retried_until_it_answers(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    faxd = Faxd(root=tmp_path, docs_url=f"http://127.0.0.1:{port}/Docs/api/v2")
    faxd.start()
    try:
        faxd.drop("+46812345678/patient.pdf", pdf("patient"))
        wait_for(lambda: "temporary failure" in faxd.log_text(), 30, "a refused connection")
        with SandboxServer({"status_delay": 0.2}, port=port) as sandbox:
            report = faxd.report_for("patient.pdf", timeout=60)
            assert report["result"] == "delivered"
            stats = sandbox.stats()["docs"]
            assert stats["send_requests"] == 1
            assert report["recipients"][0]["attempts"] >= 2
    finally:
        faxd.stop()


def test_odd_names_are_sent_junk_is_ignored_and_every_log_line_is_json(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    box = faxd.spool / "+46812345678"
    box.mkdir()
    odd = ["with space.pdf", "Ünïcødé – tåg.pdf", "-leading-dash.pdf", "new\nline.pdf"]
    for i, name in enumerate(odd):
        (box / name).write_bytes(pdf(f"odd-{i}"))
    raw = os.fsencode(str(box)) + b"/bad-\xff\xfe-bytes.pdf"
    with open(raw, "wb") as handle:
        handle.write(pdf("raw-bytes"))
    for name in odd:
        assert faxd.report_for(name, timeout=60)["result"] == "delivered", name
    wait_for(
        lambda: any(b"bad-" in os.fsencode(p.name) for p in faxd.sent.rglob("*.report.yaml")),
        60,
        "the file with invalid UTF-8 in its name",
    )
    assert len(sandbox.stats()["docs"]["uploads_by_sha256"]) == len(odd) + 1
    faxd.stop()
    for line in faxd.log_path.read_bytes().splitlines():
        json.loads(line)


def test_sent_inside_the_spool_is_never_input(faxd: Faxd, sandbox: SandboxServer) -> None:
    faxd.overrides.update(
        {"sent_dir": str(faxd.spool / "sent"), "failed_dir": str(faxd.spool / "failed")}
    )
    faxd.start()
    faxd.drop("+46812345678/inside.pdf", pdf("inside"))
    inside = faxd.spool / "sent" / "+46812345678" / "inside.pdf.report.yaml"
    wait_for(inside.exists, 30, "the report inside the spool's own sent/")
    moved = faxd.spool / "sent" / "+46812345678" / "manual.pdf"
    (faxd.root / "manual.pdf").write_bytes(pdf("manual"))
    shutil.move(faxd.root / "manual.pdf", moved)
    time.sleep(2)
    assert moved.exists()
    assert sandbox.stats()["docs"]["send_requests"] == 1
