"""One faxd per state directory, checked against a real second process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.errors import AlreadyRunningError, FaxdError, HeldByCommandError
from faxd.host.lock import InstanceLock

HOLDER = """
import sys
from pathlib import Path
from faxd.host.lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1]), *sys.argv[2:])
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock on tmp_path/state."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "state")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def test_lock_held_by_another_process_names_its_pid(
    holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    with pytest.raises(AlreadyRunningError) as caught:
        InstanceLock(state).acquire()
    message = str(caught.value)
    assert f"faxd is already running (pid {holder.pid}) with state directory {state}." in message
    assert caught.value.hint and "systemctl stop faxd" in caught.value.hint


def test_lock_of_a_killed_process_is_free_again(
    holder: subprocess.Popen[str], tmp_path: Path
) -> None:
    # kill -9 leaves the file behind with a stale pid; the kernel released the flock.
    holder.kill()
    holder.wait(timeout=30)
    lock = InstanceLock(tmp_path / "state")
    lock.acquire()
    try:
        assert (tmp_path / "state" / "faxd.lock").read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_lock_records_our_pid_and_release_lets_the_next_one_in(tmp_path: Path) -> None:
    state = tmp_path / "var" / "lib" / "faxd"  # created when missing
    with InstanceLock(state) as first:
        assert (state / "faxd.lock").read_text() == f"{os.getpid()}\n"
        first.acquire()  # already ours: no error
        with pytest.raises(AlreadyRunningError, match=f"pid {os.getpid()}"):
            InstanceLock(state).acquire()
    assert not first.held
    assert (state / "faxd.lock").read_text() == ""
    second = InstanceLock(state)
    second.acquire()
    second.release()
    second.release()  # releasing twice is harmless


def test_unusable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(FaxdError, match=r"Cannot open the lock file .*not-a-dir/faxd\.lock"):
        InstanceLock(blocker).acquire()


def test_a_second_command_waits_for_the_first_and_then_gives_up_in_a_sentence(
    tmp_path: Path,
) -> None:
    from faxd.host.lock import one_command_at_a_time

    state = tmp_path / "state"  # not there yet: made, as faxd's first start would
    with (
        one_command_at_a_time(state),
        pytest.raises(FaxdError, match="another faxd retry or release"),
        one_command_at_a_time(state, wait=0.2),
    ):
        pass
    with one_command_at_a_time(state, wait=0.2):  # free again once the first is done
        pass


def test_a_full_disk_does_not_keep_the_lock_from_being_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pid could not be written (ENOSPC): faxd stopped at start-up with an internal
    # error, and systemd gave up restarting it before the disk was freed.
    import errno

    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    lock = InstanceLock(tmp_path)
    lock.acquire()
    try:
        with pytest.raises(AlreadyRunningError):
            InstanceLock(tmp_path).acquire()  # held all the same
    finally:
        lock.release()


def _hold(state: Path, *command: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state), *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    return proc


def test_a_lock_faxd_send_holds_is_told_from_a_daemons(tmp_path: Path) -> None:
    # `faxd send` with no daemon running holds the lock while it sends: a daemon started
    # meanwhile is to start again shortly, not give up as on a second daemon.
    state = tmp_path / "state"
    sender = _hold(state, "send")
    try:
        with pytest.raises(HeldByCommandError) as caught:
            InstanceLock(state).acquire()
        assert f"faxd send (pid {sender.pid}) is using the state directory" in str(caught.value)
    finally:
        sender.kill()
        sender.wait(timeout=30)
    other = _hold(state)
    try:
        with pytest.raises(AlreadyRunningError) as second:
            InstanceLock(state).acquire()
        assert not isinstance(second.value, HeldByCommandError)
    finally:
        other.kill()
        other.wait(timeout=30)
