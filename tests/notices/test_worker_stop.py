"""A stop while a command channel's program runs: the program, and what it started, end
with faxd, and the message runs once at the next start — never twice at the same time."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from faxd.clock import SystemClock
from faxd.notices.plan import alert_rows
from faxd.notices.worker import OutboxWorker, wait_idle
from faxd.settings import AlertSettings, CommandChannel, Settings
from faxd.store.journal import Journal
from faxd.store.outbox import Outbox
from tests.settings_helpers import bare_settings

# Each run appends its pid to `runs`, then works until `hang` is gone.
SCRIPT = (
    "import os, sys, time\n"
    "runs, hang = sys.argv[1], sys.argv[2]\n"
    "open(runs, 'a').write(str(os.getpid()) + chr(10))\n"
    "while os.path.exists(hang):\n"
    "    time.sleep(0.05)\n"
)


def settings(tmp_path: Path, runs: Path, hang: Path) -> Settings:
    argv = (sys.executable, "-c", SCRIPT, str(runs), str(hang))
    return bare_settings(tmp_path, channels={"hook": CommandChannel(name="hook", argv=argv)})


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def start(work: OutboxWorker) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=work.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def running_one(
    tmp_path: Path,
) -> tuple[Journal, Outbox, OutboxWorker, threading.Event, threading.Thread]:
    """One alert to the command channel, whose program is running (until `hang` goes)."""
    runs, hang = tmp_path / "runs", tmp_path / "hang"
    hang.touch()
    journal = Journal(tmp_path / "journal.sqlite")
    clock = SystemClock()
    outbox = Outbox(journal)
    outbox.add(
        alert_rows(
            AlertSettings(to=("hook",)), "auth", "k", clock.time(), title="t", text="x", advice="-"
        )
    )
    work = OutboxWorker(settings(tmp_path, runs, hang), journal, clock)
    stop, thread = start(work)
    wait_for(lambda: runs.exists() and runs.read_text().endswith("\n"))
    return journal, outbox, work, stop, thread


def test_a_program_running_at_a_stop_is_killed_and_runs_once_at_the_next_start(
    tmp_path: Path,
) -> None:
    runs, hang = tmp_path / "runs", tmp_path / "hang"
    journal, outbox, work, stop, thread = running_one(tmp_path)
    [first] = [int(pid) for pid in runs.read_text().split()]
    stop.set()
    thread.join(5)
    try:
        work.shutdown(0.5)
    finally:
        if running(first):
            hang.unlink()  # not stopped: it must not outlive the test
    # Gone before the next start can run it again.
    assert not running(first)
    [row] = outbox.rows()
    assert row.state == "pending" and row.attempts == 0
    assert row.error is not None and "stopped because faxd stopped" in row.error

    hang.unlink()  # the next start's run ends
    again = OutboxWorker(settings(tmp_path, runs, hang), journal, SystemClock())
    stop, thread = start(again)
    try:
        assert wait_idle(outbox, 10)
    finally:
        stop.set()
        thread.join(5)
        again.shutdown(1)
    assert len(runs.read_text().split()) == 2
    assert outbox.counts() == {"done": 1}
    journal.close()


def test_a_program_that_ends_within_the_stop_budget_is_recorded_done(tmp_path: Path) -> None:
    runs, hang = tmp_path / "runs", tmp_path / "hang"
    journal, outbox, work, stop, thread = running_one(tmp_path)
    stop.set()
    threading.Timer(0.3, hang.unlink).start()
    work.shutdown(5)
    thread.join(5)
    assert outbox.counts() == {"done": 1}
    assert len(runs.read_text().split()) == 1
    assert not os.path.exists(hang)
    journal.close()
