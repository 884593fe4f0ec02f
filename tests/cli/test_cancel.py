"""`faxd send` interrupted says what becomes of the job, and `faxd cancel` stops a job that
has not left yet, and refuses one whose upload may have reached the provider."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from faxd.cli import main
from faxd.core.transitions import TxUpdate
from faxd.host.lock import InstanceLock
from faxd.model import TxState
from faxd.sandbox.server import SandboxServer
from faxd.service.daemon import JOURNAL_NAME
from faxd.store.journal import Journal

from ..e2e.harness import Faxd, pdf

# A child inherits an ignored SIGINT (a test run a script started in the background
# ignores it, and so does everything it starts), and Python then leaves it ignored: faxd
# send would not see Ctrl-C at all. The child here gets Ctrl-C as a terminal delivers it.
_WITH_CTRL_C = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'faxd'; runpy.run_module('faxd', run_name='__main__')"
)


def queue_with_send(
    setup: Faxd, tmp_path: Path, sig: int, to: tuple[str, ...] = ("+46812345678",)
) -> tuple[str, str]:
    """`faxd send` while another faxd holds the state folder: the job is queued and the
    command waits; interrupt it with `sig` and return its job id and stderr."""
    doc = tmp_path / "queued.pdf"
    doc.write_bytes(pdf("queued-by-send"))
    lock = InstanceLock(setup.state)  # stands for a running daemon that is busy elsewhere
    lock.acquire()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WITH_CTRL_C,
                "send",
                "--config",
                str(setup.config_path),
                str(doc),
                "--to",
                *to,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"job (\S+) queued", line)
        assert found, line
        time.sleep(0.3)  # into the wait loop
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 1
    finally:
        lock.release()
    return found.group(1), err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_send_says_the_job_stays_queued_and_cancel_files_it(
    capsys: pytest.CaptureFixture[str],
    setup: Faxd,
    sandbox: SandboxServer,
    tmp_path: Path,
    sig: int,
) -> None:
    job_id, err = queue_with_send(setup, tmp_path, sig)
    assert "still queued" in err and f"faxd cancel {job_id}" in err
    assert "Traceback" not in err
    code = main(["status", "--config", str(setup.config_path)], environ={})
    out = capsys.readouterr().out
    assert code == 0 and job_id in out  # a queued job from faxd send is listed
    outbox = setup.state / "outbox" / job_id
    assert (outbox / "queued.pdf").is_file()  # its document waits there, to be sent
    code = main(["cancel", "--config", str(setup.config_path), job_id], environ={})
    out = capsys.readouterr().out
    assert code == 0, out
    assert "cancelled" in out
    report = (setup.failed / "queued.pdf.report.yaml").read_text()
    assert "cancelled with faxd cancel" in report
    assert (setup.failed / "queued.pdf").is_file()
    assert not outbox.exists()  # filed: nothing needs its outbox folder any more
    assert sandbox.stats()["docs"]["requests"].get("send") is None
    code = main(["cancel", "--config", str(setup.config_path), job_id], environ={})
    assert code == 2 and "finished already" in capsys.readouterr().err


def test_cancel_is_refused_once_the_upload_may_have_left(
    capsys: pytest.CaptureFixture[str], setup: Faxd, tmp_path: Path
) -> None:
    job_id, _ = queue_with_send(setup, tmp_path, signal.SIGINT)
    journal = Journal(setup.state / JOURNAL_NAME)
    try:
        journal.apply(job_id, 0, TxUpdate(state=TxState.SUBMITTING))
    finally:
        journal.close()
    code = main(["cancel", "--config", str(setup.config_path), job_id], environ={})
    err = capsys.readouterr().err
    assert code == 1
    assert "cannot be cancelled" in err and "submitting" in err
    journal = Journal(setup.state / JOURNAL_NAME)
    try:
        assert journal.transmissions(job_id)[0].state is TxState.SUBMITTING
    finally:
        journal.close()


def test_cancel_leaves_a_recipient_refused_already_as_it_is_and_says_so(
    capsys: pytest.CaptureFixture[str], setup: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # The provider refused the first number; the second waits to be sent. Nothing is under
    # way to stop: the second is cancelled, and the first is said to have failed already,
    # not to "may already have reached the provider".
    job_id, _ = queue_with_send(setup, tmp_path, signal.SIGINT, ("+46812345678", "+46812345611"))
    refused = "upload to +46812345678 was rejected by the provider: HTTP 400 Bad Request"
    journal = Journal(setup.state / JOURNAL_NAME)
    try:
        journal.apply(job_id, 0, TxUpdate(state=TxState.FAILED, error=refused))
    finally:
        journal.close()
    code = main(["cancel", "--config", str(setup.config_path), job_id], environ={})
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "may already have reached" not in out + err
    assert f"job {job_id} cancelled" in out
    assert f"+46812345678: had failed already, before the cancel: {refused}" in out
    report = yaml.safe_load((setup.failed / "queued.pdf.report.yaml").read_text())
    errors = {r["number"]: r["error"] for r in report["recipients"]}
    assert errors == {"+46812345678": refused, "+46812345611": "cancelled with faxd cancel"}
    assert sandbox.stats()["docs"]["send_requests"] == 0
