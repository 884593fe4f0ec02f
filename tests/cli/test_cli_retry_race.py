"""Two `faxd retry` (or `release`) of the same document at once: one puts it back, the
other waits for it and then says it was put back already, instead of both reporting
success and recording the retry twice."""

from __future__ import annotations

import threading
import time

import pytest

from faxd.cli import main
from faxd.host.lock import one_command_at_a_time
from faxd.sandbox.server import SandboxServer

from ..e2e.harness import Faxd, pdf


def failed_document(setup: Faxd, sandbox: SandboxServer) -> str:
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "status", "status": 400})
    setup.start()
    try:
        setup.drop("+46812345678/twice.pdf", pdf("retry race"))
        assert setup.report_for("twice.pdf")["result"] == "failed"
    finally:
        assert setup.stop() == 0
    return str(setup.failed / "+46812345678" / "twice.pdf")


def test_a_retry_waits_for_the_one_under_way_then_finds_the_document_gone(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer
) -> None:
    failed = failed_document(setup, sandbox)
    codes: list[int] = []
    argv = ["retry", failed, "--config", str(setup.config_path)]
    with one_command_at_a_time(setup.state):  # another retry is moving documents
        runner = threading.Thread(target=lambda: codes.append(main(argv, environ={})))
        runner.start()
        time.sleep(0.5)
        assert codes == [] and (setup.failed / "+46812345678" / "twice.pdf").exists()
    runner.join(30)
    assert codes == [0]
    assert (setup.spool / "+46812345678" / "twice.pdf").exists()
    capsys.readouterr()
    assert main(argv, environ={}) == 2
    assert "put back for retry already" in capsys.readouterr().err


def test_two_retries_at_once_put_the_document_back_once(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer
) -> None:
    failed = failed_document(setup, sandbox)
    argv = ["retry", failed, "--config", str(setup.config_path)]
    codes: list[int] = []
    start = threading.Barrier(2)

    def one() -> None:
        start.wait()
        codes.append(main(argv, environ={}))

    runners = [threading.Thread(target=one) for _ in range(2)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(30)
    assert sorted(codes) == [0, 2]
    assert [p.name for p in (setup.spool / "+46812345678").iterdir()] == ["twice.pdf"]
    assert "put back for retry already" in capsys.readouterr().err
