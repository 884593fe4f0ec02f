"""`faxd send` beside a running daemon: the command leaves its job to the daemon and follows
it; when that daemon stops first, the command says the job stays queued and ends, and the
next start sends it."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, pdf, wait_for


def test_send_ends_saying_the_job_stays_queued_when_the_daemon_it_waited_for_stops(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # One upload slot, held 4 s by a slow upload: the command's job is still queued when
    # the daemon is stopped, and the command waited for ever ("the running faxd sends it").
    faxd.overrides["concurrency"] = 1
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "slow", "delay": 4})
    faxd.start()
    faxd.drop("+46812345678/first.pdf", pdf("ahead in the queue"))
    wait_for(lambda: sandbox.stats()["docs"]["send_requests"] == 1, 30, "the slow upload")
    document = tmp_path / "letter.pdf"
    document.write_bytes(pdf("sent by the command"))
    argv = [sys.executable, "-m", "faxd", "send", "--config", str(faxd.config_path)]
    command = subprocess.Popen(
        [*argv, str(document), "--to", "+46812345678"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert command.stdout is not None
        assert "the running faxd sends it" in command.stdout.readline()
        assert faxd.stop() == 0
        _, err = command.communicate(timeout=60)
    finally:
        command.kill()
        command.wait()
    assert command.returncode == 1, err
    assert "the running faxd stopped: job" in err and "is still queued" in err
    digest = hashlib.sha256(document.read_bytes()).hexdigest()
    assert digest not in sandbox.stats()["docs"]["uploads_by_sha256"]  # nothing sent by it
    faxd.start()  # the next start sends it, once
    assert faxd.report_for("letter.pdf")["result"] == "delivered"
    assert faxd.report_for("first.pdf")["result"] == "delivered"
    assert sandbox.stats()["docs"]["uploads_by_sha256"][digest] == 1
    assert faxd.stop() == 0
