"""`faxd send` beside a running daemon: the command leaves its job to the daemon and follows
it; when that daemon stops first, the command says the job stays queued and ends, and the
next start sends it. Sending by itself, it leaves what a killed daemon left half-way to the
next start, and ends once its job is final even when it could not file it. Whoever files
the job removes its outbox folder, and not before."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_send_by_itself_leaves_an_upload_a_killed_daemon_left_half_way_to_the_next_start(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Killed after the provider accepted the upload, before the answer was recorded: the
    # transmission is "submitting". faxd send sending by itself works its own job only (the
    # document came from a spool folder it holds no claim on): it neither sends nor looks
    # up that one, and the next daemon's start looks it up and files it, sent once.
    faxd.start(FAXD_CRASH_AT="after_accept_before_commit")
    left = pdf("accepted, then the daemon was killed")
    faxd.drop("+46812345678/left.pdf", left)
    assert faxd.proc is not None
    proc = faxd.proc
    wait_for(lambda: proc.poll() is not None, 60, "the kill after the upload was accepted")
    faxd.proc = None
    left_digest = hashlib.sha256(left).hexdigest()
    assert sandbox.stats()["docs"]["uploads_by_sha256"] == {left_digest: 1}
    document = tmp_path / "letter.pdf"
    document.write_bytes(pdf("sent by the command alone"))
    argv = [sys.executable, "-m", "faxd", "send", "--config", str(faxd.config_path)]
    done = subprocess.run(
        [*argv, str(document), "--to", "+46812345678", "--wait"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "uploads interrupted by a stop" not in done.stderr
    journal = sqlite3.connect(f"file:{faxd.state / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        states = journal.execute(
            "SELECT t.state FROM transmissions t JOIN jobs j ON j.id = t.job_id"
            " WHERE j.rel_path = ?",
            ("+46812345678/left.pdf",),
        ).fetchall()
    finally:
        journal.close()
    assert states == [("submitting",)]
    assert (faxd.spool / "+46812345678" / "left.pdf").is_file()
    assert sandbox.stats()["docs"]["uploads_by_sha256"][left_digest] == 1
    faxd.start()
    assert faxd.report_for("left.pdf", timeout=60)["result"] == "delivered"
    assert sandbox.stats()["docs"]["uploads_by_sha256"][left_digest] == 1  # found, not resent
    wait_for(lambda: faxd.log_text().count('"faxd is running"') == 2, 30, "the daemon's start")
    assert faxd.stop() == 0


def test_send_wait_by_itself_ends_when_it_cannot_file_the_delivered_job(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Only a daemon tries a failed filing again: the command, sending by itself, must end
    # once its job is delivered and could not be filed, not wait for a filing nobody tries.
    faxd.write_config()
    faxd.sent.mkdir(exist_ok=True)
    faxd.failed.mkdir(exist_ok=True)
    document = tmp_path / "letter.pdf"
    data = pdf("delivered, then not filed")
    document.write_bytes(data)
    argv = [sys.executable, "-m", "faxd", "send", "--config", str(faxd.config_path)]
    # Immutable: nothing can be made in it, not even by root.
    if (
        not shutil.which("chattr")
        or subprocess.run(
            ["chattr", "+i", str(faxd.sent)], capture_output=True, check=False
        ).returncode
    ):
        pytest.skip("sent/ cannot be made immutable here (chattr, root and ext4 needed)")
    try:
        done = subprocess.run(
            [*argv, str(document), "--to", "+46812345678", "--wait"],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        subprocess.run(["chattr", "-i", str(faxd.sent)], check=False)
    assert done.returncode == 0, done.stderr
    assert "delivered, but not filed" in done.stdout
    assert "could not file the document" in done.stderr
    digest = hashlib.sha256(data).hexdigest()
    assert sandbox.stats()["docs"]["uploads_by_sha256"][digest] == 1
    # Not filed: the document waits in its outbox folder, from where it is filed.
    [outbox] = (faxd.state / "outbox").iterdir()
    assert (outbox / "letter.pdf").read_bytes() == data
    # The next daemon files it, once sent/ takes files again.
    faxd.start()
    assert faxd.report_for("letter.pdf", timeout=60)["result"] == "delivered"
    assert (faxd.sent / "letter.pdf").read_bytes() == data
    wait_for(lambda: not outbox.exists(), 10, "the filed job's outbox folder to go")
    assert sandbox.stats()["docs"]["uploads_by_sha256"][digest] == 1
    assert faxd.stop() == 0


def test_a_send_job_filed_leaves_no_outbox_folder_behind(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Every faxd send left its folder in state_dir/outbox for ever, empty once its job was
    # filed: sent by the command, refused by a deny rule (filed in failed/ at once, with
    # its report), or left to the running daemon.
    faxd.overrides["deny"] = ["+46900"]
    faxd.write_config()
    outbox = faxd.state / "outbox"
    argv = [sys.executable, "-m", "faxd", "send", "--config", str(faxd.config_path)]

    def send(to: str, *names: str) -> subprocess.CompletedProcess[str]:
        for name in names:
            (tmp_path / name).write_bytes(pdf(name))
        files = [str(tmp_path / name) for name in names]
        return subprocess.run(
            [*argv, *files, "--to", to, "--wait"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = send("+46812345678", "letter.pdf", "terms.pdf")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in faxd.sent.iterdir()} >= {"letter.pdf", "terms.pdf"}
    assert list(outbox.iterdir()) == []
    refused = send("+46900123456", "offer.pdf", "prices.pdf")
    assert refused.returncode == 1, refused.stderr
    assert "refused by the deny rule" in refused.stderr
    assert faxd.report_for("offer.pdf")["result"] == "failed"
    assert {p.name for p in faxd.failed.iterdir()} == {
        "offer.pdf",
        "offer.pdf.yaml",
        "offer.pdf.report.yaml",
        "prices.pdf",
    }
    assert list(outbox.iterdir()) == []
    faxd.start()
    wait_for(lambda: '"faxd is running"' in faxd.log_text(), 60, "the daemon's start")
    left = send("+46812345678", "order.pdf")
    assert left.returncode == 0, left.stderr
    assert "the running faxd sends it" in left.stdout
    assert (faxd.sent / "order.pdf").read_bytes() == (tmp_path / "order.pdf").read_bytes()
    wait_for(lambda: not any(outbox.iterdir()), 10, "the filed job's outbox folder to go")
    uploads = sandbox.stats()["docs"]["uploads_by_sha256"]
    sent = {"letter.pdf": 1, "terms.pdf": 1, "offer.pdf": None, "prices.pdf": None, "order.pdf": 1}
    for name, times in sent.items():
        assert uploads.get(hashlib.sha256(pdf(name)).hexdigest()) == times, name
        assert (tmp_path / name).is_file()  # the files given stay where they are
    assert faxd.stop() == 0
