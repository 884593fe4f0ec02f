"""One faxd per state directory: an flock on state_dir/faxd.lock; and one command at a
time that moves documents back (`faxd retry`, `faxd release`): state_dir/commands.lock.

The kernel drops an flock when its holder dies, so a crash (even kill -9) never leaves
a stale lock behind, and the file is never deleted (deleting lock files races)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from faxd.errors import AlreadyRunningError, FaxdError, HeldByCommandError

LOCK_NAME = "faxd.lock"
COMMANDS_LOCK_NAME = "commands.lock"


class InstanceLock:
    def __init__(self, state_dir: Path, command: str | None = None) -> None:
        """`command`: the faxd command taking the lock instead of a daemon (`send`),
        written after the pid, so that a daemon starting meanwhile knows it is to start
        again shortly rather than give up on a second daemon."""
        self.state_dir = state_dir
        self.path = state_dir / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock and record our pid in it, or raise AlreadyRunningError."""
        if self._fd is not None:
            return
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640)
        except OSError as exc:
            raise FaxdError(
                f"Cannot open the lock file {self.path}: {exc.strerror}.",
                "Check that state_dir exists and is writable by the user faxd runs as.",
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder, command = _read_holder(fd)
            os.close(fd)
            if command is not None:
                raise HeldByCommandError(
                    f"faxd {command} (pid {holder or 'unknown'}) is using the state directory "
                    f"{self.state_dir} for now.",
                    "faxd starts once it is done (systemd starts it again after RestartSec).",
                    command,
                ) from None
            raise AlreadyRunningError(
                f"faxd is already running (pid {holder or 'unknown'}) with state directory "
                f"{self.state_dir}.",
                "Stop that instance first (systemctl stop faxd), or give this one its own "
                "state_dir.",
            ) from None
        except OSError as exc:
            os.close(fd)
            raise FaxdError(
                f"Cannot lock {self.path}: {exc.strerror}.",
                "state_dir must be on a local filesystem that supports flock.",
            ) from exc
        data = f"{os.getpid()}{f' {self.command}' if self.command else ''}\n".encode()
        # Write before truncating, so a reader never sees an empty file while we hold it.
        # The pid only helps a second faxd name this one: on a full disk the lock holds
        # without it (the failure to start is the journal's to say, once).
        with contextlib.suppress(OSError):
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Truncate first: a pid left in the file would point at whatever reuses it.
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def running_pid(state_dir: Path) -> int | None:
    """The pid of the faxd that holds the state directory's lock, as it wrote it there, if
    that process still exists; None when none does. Read without taking the lock: a daemon
    starting in that moment would find it held and end."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        pid = _read_pid(fd)
    finally:
        os.close(fd)
    if pid is None:
        return None  # a faxd that stopped empties the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # killed: the kernel dropped its flock, the pid stayed
    except PermissionError:
        pass  # another user's process: it exists
    return pid


def _read_pid(fd: int) -> int | None:
    return _read_holder(fd)[0]


def _read_holder(fd: int) -> tuple[int | None, str | None]:
    """The pid in the lock file, and the command that holds it (None for a daemon)."""
    try:
        words = os.pread(fd, 64, 0).decode("ascii").split()
        pid = int(words[0]) if words else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None, None
    command = words[1] if len(words) > 1 and words[1].isalpha() else None
    return pid, command


@contextlib.contextmanager
def one_command_at_a_time(state_dir: Path, wait: float = 30.0) -> Iterator[None]:
    """Held while a command puts documents back into a spool folder. Two `faxd retry` of
    the same document at once both found it still in failed/ and both recorded a retry;
    in turn, the second finds it gone and says so. Waits up to `wait` seconds for the
    other command."""
    path = state_dir / COMMANDS_LOCK_NAME
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o640)
    except OSError as exc:
        raise FaxdError(
            f"Cannot open the lock file {path}: {exc.strerror}.",
            "Run the command as the user faxd runs as (or root).",
        ) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FaxdError(
                        "another faxd retry or release is still moving documents.",
                        "Try again in a moment.",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing drops the flock
