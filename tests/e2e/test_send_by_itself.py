"""`faxd send` sending by itself (no daemon running) works its own job only: the jobs a daemon
took from the spool folders wait for the daemon, whichever faxd holds those folders now; a
second command waits for the first; a daemon starting while the command makes its copies
leaves them be, and the next start removes the copies of a command killed before its job
was journaled."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from faxd.cli import main
from faxd.core.job_payload import NewJob
from faxd.host.folder_claims import FolderClaims
from faxd.host.lock import InstanceLock
from faxd.sandbox.server import SandboxServer
from faxd.store.journal import Journal
from faxd.store.journal_failures import JournalWriteError
from faxd.store.outbox import NewDelivery

from .harness import Faxd, pdf, wait_for


def unfiled(state: Path) -> dict[str, list[str]]:
    """The journal's unfiled jobs: document (relative path) -> its transmissions' states."""
    journal = sqlite3.connect(f"file:{state / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        rows = journal.execute(
            "SELECT j.rel_path, t.state FROM jobs j JOIN transmissions t ON t.job_id = j.id"
            " WHERE j.archived_at IS NULL ORDER BY j.rel_path, t.idx"
        ).fetchall()
    finally:
        journal.close()
    found: dict[str, list[str]] = {}
    for rel_path, tx_state in rows:
        found.setdefault(rel_path, []).append(tx_state)
    return found


def send_argv(faxd: Faxd, document: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "faxd", "send", "--config", str(faxd.config_path)),
        *(str(document), "--to", "+46812345678", "--wait"),
    ]


def test_send_by_itself_leaves_the_daemons_spool_jobs_to_the_daemon(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # The daemon stops with second.pdf still queued (one upload slot, held by a slow
    # upload), and another faxd, of another state_dir, takes the spool folder: it sends
    # second.pdf itself. faxd send sending by itself uploaded and filed the stopped daemon's
    # queued jobs too, without the folder's claim: second.pdf went out twice.
    faxd.overrides["concurrency"] = 1
    sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "slow", "delay": 4})
    faxd.start()
    faxd.drop("+46812345678/first.pdf", pdf("ahead in the queue"))
    wait_for(lambda: sandbox.stats()["docs"]["send_requests"] == 1, 30, "the slow upload")
    second = pdf("queued for the daemon")
    faxd.drop("+46812345678/second.pdf", second)
    wait_for(lambda: "+46812345678/second.pdf" in unfiled(faxd.state), 30, "second.pdf's job")
    assert faxd.stop() == 0
    before = unfiled(faxd.state)
    assert before["+46812345678/second.pdf"] == ["ready"]
    other = FolderClaims("pid 4242 on host fax2, state_dir /var/lib/faxd")
    assert other.claim(faxd.spool) is None  # the other faxd works the spool folder now
    try:
        document = tmp_path / "letter.pdf"
        document.write_bytes(pdf("sent by the command alone"))
        done = subprocess.run(
            send_argv(faxd, document), capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "filed:" in done.stdout
        letter = hashlib.sha256(document.read_bytes()).hexdigest()
        uploads = sandbox.stats()["docs"]["uploads_by_sha256"]
        assert uploads[letter] == 1
        # The daemon's jobs are as it left them: not sent, not looked at, not filed.
        assert hashlib.sha256(second).hexdigest() not in uploads
        assert unfiled(faxd.state) == before
        for rel_path in before:
            assert (faxd.spool / rel_path).is_file(), rel_path
            assert not (faxd.sent / rel_path).exists(), rel_path
    finally:
        other.release_all()
    faxd.start()  # the folder is this faxd's again: its daemon sends second.pdf, once
    assert faxd.report_for("second.pdf", timeout=60)["result"] == "delivered"
    assert faxd.report_for("first.pdf", timeout=60)["result"] == "delivered"
    assert sandbox.stats()["docs"]["uploads_by_sha256"][hashlib.sha256(second).hexdigest()] == 1
    assert faxd.stop() == 0


@pytest.mark.parametrize(
    ("holder", "said"),
    [
        ("send", "another faxd send is sending its own now"),
        ("journal", "faxd journal is using the state directory now"),
    ],
)
def test_send_waits_for_another_command_holding_the_lock_then_sends_its_own(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path, holder: str, said: str
) -> None:
    # A command sending by itself works its own job only, so a second one that finds the
    # lock held by it sends its own once the first is done: it waited for a daemon that
    # was not there, and ended saying "the running faxd stopped". `faxd journal` drawing
    # the pending reports holds the lock the same way for a while.
    faxd.write_config()
    document = tmp_path / "letter.pdf"
    document.write_bytes(pdf(f"the command's, after faxd {holder}"))
    first = InstanceLock(faxd.state, command=holder)  # stands for that command at work
    first.acquire()
    command = subprocess.Popen(
        send_argv(faxd, document), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert command.stdout is not None
        line = command.stdout.readline()
        assert re.search(r"job \S+ queued", line), line
        first.release()  # the first command is done
        out, err = command.communicate(timeout=120)
    finally:
        first.release()
        if command.poll() is None:
            command.kill()
            command.wait()
    assert command.returncode == 0, err
    assert said in line
    assert "filed:" in out
    assert faxd.report_for("letter.pdf")["result"] == "delivered"
    digest = hashlib.sha256(document.read_bytes()).hexdigest()
    assert sandbox.stats()["docs"]["uploads_by_sha256"][digest] == 1


def test_a_daemon_starting_while_send_makes_its_copies_leaves_them(
    faxd: Faxd,
    sandbox: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The command copies the document into state_dir/work/JOB and then journals the job. A
    # daemon whose start came in between removed that folder as one no job owns, and then
    # failed the job the command left to it: "letter.pdf was removed … before it was sent".
    faxd.write_config()
    document = tmp_path / "letter.pdf"
    document.write_bytes(pdf("copied while a daemon starts"))
    create_job = Journal.create_job
    work: list[str] = []

    def daemon_starts_first(
        journal: Journal, job: NewJob, outbox: Sequence[NewDelivery] = ()
    ) -> None:
        work.extend(p.name for p in (faxd.state / "work").iterdir())
        faxd.start()
        wait_for(lambda: '"faxd is running"' in faxd.log_text(), 60, "the daemon's start")
        create_job(journal, job, outbox)

    monkeypatch.setattr(Journal, "create_job", daemon_starts_first)
    argv = ["send", "--config", str(faxd.config_path), str(document)]
    code = main([*argv, "--to", "+46812345678", "--wait"], environ={})
    out = capsys.readouterr().out
    assert len(work) == 1  # the command's own work folder, not in the journal yet
    assert "the running faxd sends it" in out
    assert code == 0, out
    assert faxd.report_for("letter.pdf")["result"] == "delivered"
    assert "removed work folders no job owns" not in faxd.log_text()
    assert "a faxd command is making a work folder right now" in faxd.log_text()
    assert faxd.stop() == 0


def test_a_daemon_starting_while_send_fills_its_outbox_folder_leaves_it(
    faxd: Faxd,
    sandbox: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The command makes state_dir/outbox/JOB and copies the files given into it before its
    # job is in the journal; the start-up sweep removes the outbox folders no job needs,
    # and must not take that one from under the command.
    faxd.write_config()
    letter, terms = tmp_path / "letter.pdf", tmp_path / "terms.pdf"
    letter.write_bytes(pdf("copied into the outbox while a daemon starts"))
    terms.write_bytes(pdf("its attachment"))
    outbox = faxd.state / "outbox"
    copyfile = shutil.copyfile
    filling: list[str] = []

    def daemon_starts_first(src: Path, dst: Path, *, follow_symlinks: bool = True) -> object:
        if Path(dst).is_relative_to(outbox) and not filling:
            filling.extend(p.name for p in outbox.iterdir())
            faxd.start()
            wait_for(lambda: '"faxd is running"' in faxd.log_text(), 60, "the daemon's start")
        return copyfile(src, dst, follow_symlinks=follow_symlinks)

    monkeypatch.setattr(shutil, "copyfile", daemon_starts_first)
    argv = ["send", "--config", str(faxd.config_path), str(letter), str(terms)]
    code = main([*argv, "--to", "+46812345678", "--wait"], environ={})
    out = capsys.readouterr().out
    assert len(filling) == 1  # the command's own outbox folder, its copies under way
    assert "the running faxd sends it" in out
    assert code == 0, out
    report = faxd.report_for("letter.pdf")
    assert report["result"] == "delivered"
    assert report["attachments"] == ["terms.pdf"]
    assert (faxd.sent / "letter.pdf.yaml").is_file()  # its sidecar, filed with it
    log = faxd.log_text()
    assert "faxd send is making an outbox folder right now" in log
    assert "outbox folders no job needs (left by a stop)" not in log
    wait_for(lambda: not any(outbox.iterdir()), 10, "the filed job's outbox folder to go")
    assert faxd.stop() == 0


def test_the_next_start_removes_the_copies_of_a_send_killed_before_its_job_was_journaled(
    faxd: Faxd, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # Killed after copying into state_dir/outbox/JOB (and work/JOB), before the job was in
    # the journal: no job will ever send or file those copies, and the start-up sweep
    # looked only in state_dir/work, so the outbox kept them for ever.
    faxd.write_config()
    document = tmp_path / "letter.pdf"
    document.write_bytes(pdf("copied, then the command was killed"))
    killed = subprocess.run(
        send_argv(faxd, document),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "FAXD_CRASH_AT": "send_before_journal"},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [left] = (faxd.state / "outbox").iterdir()
    assert sorted(p.name for p in left.iterdir()) == ["letter.pdf", "letter.pdf.yaml"]
    assert (faxd.state / "work" / left.name).is_dir()
    assert unfiled(faxd.state) == {}
    faxd.start()
    wait_for(lambda: '"faxd is running"' in faxd.log_text(), 60, "the daemon's start")
    assert not left.exists()
    assert not (faxd.state / "work" / left.name).exists()
    assert "removed faxd send's outbox folders no job needs" in faxd.log_text()
    assert document.is_file()  # the file given stays where it was
    assert not faxd.sent.exists() or not any(faxd.sent.iterdir())
    assert sandbox.stats()["docs"]["uploads_by_sha256"] == {}
    assert faxd.stop() == 0


def test_a_send_whose_journal_sync_failed_leaves_its_copies_to_the_job(
    faxd: Faxd,
    sandbox: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The job's commit went in, its sync failed: the command fails, yet the journal may
    # hold the job, which the next start sends from the outbox folder and files, and only
    # then is the folder removed.
    faxd.write_config()
    document = tmp_path / "letter.pdf"
    document.write_bytes(pdf("journaled, then the sync failed"))
    create_job = Journal.create_job

    def sync_fails(journal: Journal, job: NewJob, outbox: Sequence[NewDelivery] = ()) -> None:
        create_job(journal, job, outbox)
        raise JournalWriteError(f"the journal {journal.path} cannot be written (disk I/O error)")

    monkeypatch.setattr(Journal, "create_job", sync_fails)
    argv = ["send", "--config", str(faxd.config_path), str(document)]
    assert main([*argv, "--to", "+46812345678", "--wait"], environ={}) == 1
    assert "cannot be written" in capsys.readouterr().err
    [left] = (faxd.state / "outbox").iterdir()
    assert sorted(p.name for p in left.iterdir()) == ["letter.pdf", "letter.pdf.yaml"]
    assert unfiled(faxd.state) == {"letter.pdf": ["ready"]}
    faxd.start()
    assert faxd.report_for("letter.pdf", timeout=60)["result"] == "delivered"
    wait_for(lambda: not left.exists(), 10, "the filed job's outbox folder to go")
    assert faxd.stop() == 0
