"""A local program, run without a shell (argv as configured, `{field}` filled in per
argument), with the event's fields as FAXD_* environment variables and a time limit:
past the limit the program and everything it started are killed."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import string
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import Any

from faxd.channels.base import ChannelError, ChannelStopped, Message
from faxd.settings import CommandChannel

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL at the limit
ERR_KEPT = 4096  # bytes of a program's stderr kept for its error (the end, where it says why)
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")

# The event fields of each kind of message: its webhook JSON, its FAXD_* variables and the
# `{name}`s of a command's argv. notices/compose.py fills exactly these, and check-config
# lets an argv name only these (a name another kind has is empty for this one).
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "notice": ("job", "document", "path", "numbers", "result", "error", "reference", "owner"),
    "delivery": ("document", "path", "number", "sender", "received_id"),
    "alert": ("title", "text", "advice"),
}
# Every message also has these (CommandRunner.send adds them).
_EVERY = ("event", "event_id")
ARGV_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys([*_EVERY, *(name for names in EVENT_FIELDS.values() for name in names)])
)


def argv_problem(arg: str) -> str | None:
    """Why the argv entry `arg` cannot be filled in (an unclosed brace, a name no message
    has, a format spec), as the end of a sentence; None when it can."""
    allowed = ", ".join(f"{{{name}}}" for name in ARGV_NAMES)
    try:
        parts = list(string.Formatter().parse(arg))
    except ValueError:
        return (
            f"'{arg}' has a brace that is not a placeholder: write {{name}} with one of "
            f"{allowed}, and a literal brace doubled ({{{{ or }}}})"
        )
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in ARGV_NAMES or spec or conversion:
            written = "{" + name + (f"!{conversion}" if conversion else "")
            written += (f":{spec}" if spec else "") + "}"
            return f"'{arg}' names {written}, which faxd does not fill in; use one of {allowed}"
    return None


def fixed_program(argv: tuple[str, ...]) -> str | None:
    """The program `argv` runs, or None when a `{name}` in its path is filled in per
    message (faxd cannot know that program before the message)."""
    if any(name is not None for _, name, _, _ in string.Formatter().parse(argv[0])):
        return None
    return fill_argv(argv[:1], {})[0]  # a doubled brace is one brace in the path run


class _Fields(string.Formatter):
    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = fields

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        value = self._fields.get(key) if isinstance(key, str) else None
        return "" if value is None else value  # a field this message has not: empty


def fill_argv(argv: tuple[str, ...], fields: Mapping[str, Any]) -> list[str]:
    """Fill `{name}` in each argument; a value is always one argument, never re-split."""
    formatter = _Fields(fields)
    # An argument cannot hold NUL (a sidecar's reference may): dropped, as in FAXD_*.
    return [formatter.vformat(arg, (), {}).replace("\x00", "") for arg in argv]


def environment(message: Message) -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    values = {
        "event_id": message.event_id,
        "kind": message.kind,
        "event": message.event,
        "subject": message.subject,
        **message.fields,
    }
    for key, value in values.items():
        if value is None or isinstance(value, dict | list):
            continue
        text = str(value).replace("\x00", "")
        env["FAXD_" + "".join(c if c.isalnum() else "_" for c in key).upper()] = text
    return env


class CommandRunner:
    def __init__(self, settings: CommandChannel) -> None:
        self.name = settings.name
        self._settings = settings
        # close() comes from the stopping daemon's thread while send() waits in the
        # channel's: the program it started, and whether faxd itself stopped it.
        self._lock = threading.Lock()
        self._running: subprocess.Popen[bytes] | None = None
        self._stopped: subprocess.Popen[bytes] | None = None

    def send(self, message: Message) -> None:
        s = self._settings
        fields = {"event_id": message.event_id, "event": message.event, **message.fields}
        argv = fill_argv(s.argv, fields)
        try:
            with self._lock:
                proc = subprocess.Popen(
                    argv,
                    env=environment(message),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,  # its own process group: a kill reaches its children
                )
                self._running = proc
        except OSError as exc:
            raise ChannelError(
                f"cannot run {argv[0]} ({exc.strerror})",
                permanent=isinstance(exc, FileNotFoundError),
            ) from None
        try:
            err = _wait(proc, s.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ChannelError(
                f"{argv[0]} was still running after {s.timeout:g} s and was stopped"
            ) from None
        finally:
            with self._lock:
                self._running = None
                stopped, self._stopped = self._stopped is proc, None
        if stopped and proc.returncode != 0:  # one that had just ended 0 did its work
            raise ChannelStopped(f"{argv[0]} was stopped because faxd stopped")
        if proc.returncode != 0:
            tail = " ".join(err.decode("utf-8", "replace").split())[-200:]
            said = f": {tail}" if tail else ""
            raise ChannelError(f"{argv[0]} {_ended(proc.returncode)}{said}")

    def close(self) -> None:
        """Stop a program still running (faxd is stopping), with everything it started:
        left running, it would run a second time at the next start while still at work."""
        with self._lock:
            proc = self._running
            if proc is None:
                return
            self._stopped = proc
        # Its stderr is the sending thread's to close: that thread still reads it.
        _kill_group(proc, close_err=False)


def _ended(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        name = f" ({signal.Signals(-returncode).name})"
    except ValueError:
        name = ""
    return f"was killed by signal {-returncode}{name}"


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The end of the program's stderr once it exits (TimeoutExpired past `timeout`).

    It ends when the program does, not its stderr: a child left running in the
    background may hold the pipe for hours, and the program that exited 0 would count as
    failed and run again. Only the last ERR_KEPT bytes are kept: a program that writes
    gigabytes there must not fill the daemon's memory."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    kept = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            if not selector.get_map():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(min(left, 0.2))  # stderr closed: only its end is awaited
                continue
            if selector.select(min(left, 0.2)):
                chunk = _read(fd)
                if chunk:
                    kept = (kept + chunk)[-ERR_KEPT:]
                else:
                    selector.unregister(fd)  # closed (EOF) by the program
        if selector.get_map():
            kept = (kept + _read(fd))[-ERR_KEPT:]  # what it wrote just before it ended
    proc.stderr.close()
    return kept


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def _kill_group(proc: subprocess.Popen[bytes], *, close_err: bool = True) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    if close_err and proc.stderr is not None:
        proc.stderr.close()
