"""sd_notify: tell systemd when faxd is ready, what it is doing, and that it is alive.

Uses systemd-python's `systemd.daemon.notify` when it is installed and speaks to the same
socket; otherwise a built-in sender (one AF_UNIX datagram per message, like libsystemd).
Nothing here ever raises into the caller: a lost status line must not stop a fax.
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence

import structlog

from faxd.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

Sender = Callable[[str], None]


def format_status(
    queued: int,
    in_flight: int,
    failed_today: int,
    paused: Sequence[str],
    inbox: str | None = None,
) -> str:
    """The one-line STATUS= text `systemctl status faxd` shows.

    `paused` names each paused provider, optionally with its reason in parentheses:
    `["docs (auth)"]` reads "docs paused (auth)". `inbox` is a short note on the poller.
    """
    text = f"{queued} queued, {in_flight} in flight, {failed_today} failed today"
    pauses = []
    for item in paused:
        name, sep, reason = item.partition(" (")
        pauses.append(f"{name} paused ({reason}" if sep else f"{name} paused")
    if pauses:
        text += "; " + ", ".join(pauses)
    if inbox:
        text += f"; inbox: {inbox}"
    return text


def _one_line(text: str) -> str:
    # Each line of a notify message is a command: a file name with a newline in a
    # status text must not become "MAINPID=…" or "READY=1".
    return " ".join(text.splitlines())


def _socket_address(value: str) -> str | bytes:
    # systemd writes an abstract-namespace name with a leading '@'; the kernel wants NUL.
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def _builtin_sender(address: str) -> Sender:
    target = _socket_address(address)

    def send(message: str) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), target)

    return send


def _libsystemd_sender() -> Sender | None:
    try:
        daemon = importlib.import_module("systemd.daemon")
    except ImportError:
        return None

    def send(message: str) -> None:
        daemon.notify(message)

    return send


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    pid = environ.get("WATCHDOG_PID")
    # A WATCHDOG_PID for another process means the variables were inherited, not meant for us.
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    # Half the timeout, as sd_watchdog_enabled(3) recommends, so one late ping is not fatal.
    return usec / 2 / 1_000_000


class Notifier:
    """Sends sd_notify messages to $NOTIFY_SOCKET; does nothing when it is unset."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, clock: Clock | None = None):
        env = os.environ if environ is None else environ
        self._clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._failed = False
        address = env.get("NOTIFY_SOCKET", "")
        self.enabled: bool = bool(address)
        self.watchdog_interval: float | None = _watchdog_interval(env) if self.enabled else None
        self._send: Sender | None = None
        if self.enabled:
            # libsystemd reads the process environment itself: use it only when that
            # names the same socket we were given.
            library = _libsystemd_sender() if os.environ.get("NOTIFY_SOCKET") == address else None
            self._send = library or _builtin_sender(address)

    def ready(self, status: str) -> None:
        self._notify(f"READY=1\nSTATUS={_one_line(status)}")

    def status(self, text: str) -> None:
        self._notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> None:
        """Ping the watchdog; a no-op when systemd set no watchdog for this process."""
        if self.watchdog_interval is not None:
            self._notify("WATCHDOG=1")

    def stopping(self, status: str = "Stopping") -> None:
        self._notify(f"STOPPING=1\nSTATUS={_one_line(status)}")

    def extend_timeout(self, seconds: float, status: str | None = None) -> None:
        """Ask for `seconds` more before systemd gives up on a slow start or stop
        (a large start-up scan, uploads finishing on SIGTERM); repeat while still busy."""
        message = f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}"
        self._notify(message + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def reloading(self) -> None:
        """Announce a configuration reload; call `ready()` again when it is done.

        MONOTONIC_USEC lets systemd ≥ 253 (Type=notify-reload) match the reload to the
        request; older versions ignore the field."""
        usec = int(self._clock.monotonic() * 1_000_000)
        self._notify(f"RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=Reloading configuration")

    def _notify(self, message: str) -> None:
        if self._send is None:
            return
        try:
            self._send(message)
        except Exception as exc:
            with self._lock:
                first, self._failed = not self._failed, True
            if first:
                # Once only: a dead socket would otherwise log on every watchdog ping.
                log.warning(
                    "Could not send a status message to systemd; faxd carries on, "
                    "but systemd may consider it hung (further failures are not logged).",
                    error=f"{type(exc).__name__}: {exc}",
                )
