"""sd_notify against a real AF_UNIX datagram socket, through systemd-python and without it."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from faxd.clock import FakeClock
from faxd.host.sd_notify import Notifier, format_status

BACKENDS = ["libsystemd", "builtin"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Which sender Notifier uses: systemd-python's, or the built-in one."""
    if request.param == "libsystemd":
        daemon = pytest.importorskip("systemd.daemon", reason="systemd-python is not installed")
        calls: list[str] = []
        real = daemon.notify

        def spy(message: str, *args: object, **kwargs: object) -> bool:
            calls.append(message)
            return bool(real(message, *args, **kwargs))

        monkeypatch.setattr(daemon, "notify", spy)
        yield request.param
        # Proves the library path was really taken (else the fallback hid its failure).
        assert calls, "systemd.daemon.notify was never called"
    else:
        # A None entry makes `import systemd.daemon` raise ImportError, as if not installed.
        monkeypatch.setitem(sys.modules, "systemd", None)
        monkeypatch.setitem(sys.modules, "systemd.daemon", None)
        yield request.param


def _bind(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    # Only a guard against a hung test: every message is already queued when we read.
    sock.settimeout(5)
    return sock


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    assert len(os.fsencode(path)) < 108, "tmp_path too long for an AF_UNIX address"
    sock = _bind(str(path))
    # In the real environment too, because libsystemd reads it from there.
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    yield sock
    sock.close()


def _received(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def _nothing_more(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(4096)
    except BlockingIOError:
        return True
    return False


def test_messages_are_sent_exactly_as_formatted(backend: str, listener: socket.socket) -> None:
    notifier = Notifier()
    assert notifier.enabled
    notifier.ready("3 queued, 0 in flight, 0 failed today")
    notifier.status("scanning /srv/fax/out")
    notifier.watchdog()
    notifier.stopping()
    notifier.stopping("Stopping: 2 uploads to finish")
    notifier.extend_timeout(90, "Stopping: waiting for 2 uploads")
    notifier.extend_timeout(2.5)

    assert _received(listener) == "READY=1\nSTATUS=3 queued, 0 in flight, 0 failed today"
    assert _received(listener) == "STATUS=scanning /srv/fax/out"
    assert _received(listener) == "WATCHDOG=1"
    assert _received(listener) == "STOPPING=1\nSTATUS=Stopping"
    assert _received(listener) == "STOPPING=1\nSTATUS=Stopping: 2 uploads to finish"
    assert _received(listener) == (
        "EXTEND_TIMEOUT_USEC=90000000\nSTATUS=Stopping: waiting for 2 uploads"
    )
    assert _received(listener) == "EXTEND_TIMEOUT_USEC=2500000"
    assert _nothing_more(listener)


def test_status_text_cannot_inject_commands(backend: str, listener: socket.socket) -> None:
    notifier = Notifier()
    notifier.status("sending evil\nREADY=1\r\nMAINPID=1.pdf")
    notifier.ready("x\nSTOPPING=1")
    assert _received(listener) == "STATUS=sending evil READY=1 MAINPID=1.pdf"
    assert _received(listener) == "READY=1\nSTATUS=x STOPPING=1"


def test_reloading_carries_the_monotonic_time(backend: str, listener: socket.socket) -> None:
    Notifier(clock=FakeClock()).reloading()
    assert _received(listener) == (
        "RELOADING=1\nMONOTONIC_USEC=1000000000\nSTATUS=Reloading configuration"
    )


def test_abstract_socket_names_are_supported(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"faxd-test-{uuid.uuid4().hex}"
    sock = _bind(b"\0" + name.encode())
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        Notifier().ready("up")
        assert _received(sock) == "READY=1\nSTATUS=up"
    finally:
        sock.close()


def test_an_injected_environment_is_used_even_with_systemd_python(tmp_path: Path) -> None:
    # libsystemd would read the process environment, which names no socket here.
    sock = _bind(str(tmp_path / "other.sock"))
    try:
        Notifier({"NOTIFY_SOCKET": str(tmp_path / "other.sock")}).status("hello")
        assert _received(sock) == "STATUS=hello"
    finally:
        sock.close()


def test_watchdog_interval_is_half_the_timeout_for_this_process() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}
    assert Notifier(env).watchdog_interval == 15.0
    assert Notifier({**env, "WATCHDOG_PID": str(os.getpid())}).watchdog_interval == 15.0
    assert Notifier({**env, "WATCHDOG_USEC": "soon"}).watchdog_interval is None
    assert Notifier({**env, "WATCHDOG_USEC": "0"}).watchdog_interval is None
    assert Notifier({"NOTIFY_SOCKET": "/run/x"}).watchdog_interval is None
    # Without a socket there is no one to ping.
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval is None


def test_watchdog_pid_of_another_process_disables_pings(
    backend: str, listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    notifier = Notifier()
    assert notifier.watchdog_interval is None
    notifier.watchdog()
    notifier.status("after")
    # The first datagram is the status: the ping was never sent.
    assert _received(listener) == "STATUS=after"


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    with structlog.testing.capture_logs() as logs:
        notifier.ready("up")
        notifier.watchdog()
    assert logs == []


@pytest.mark.parametrize("kind", ["missing", "closed"])
def test_a_dead_socket_never_raises_and_is_logged_once(
    backend: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dead.sock"
    if kind == "closed":
        # Bound once, then nobody listens: sendto gets ECONNREFUSED.
        _bind(str(path)).close()
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    notifier = Notifier()
    with structlog.testing.capture_logs() as logs:
        notifier.ready("up")
        notifier.watchdog()
        notifier.status("still here")
        notifier.reloading()
        notifier.stopping()
    assert [entry["log_level"] for entry in logs] == ["warning"]
    assert "systemd" in logs[0]["event"]
    expected = "FileNotFoundError" if kind == "missing" else "ConnectionRefusedError"
    assert logs[0]["error"].startswith(expected)


def test_format_status_reads_like_a_sentence() -> None:
    assert format_status(3, 1, 0, ["docs (auth)"]) == (
        "3 queued, 1 in flight, 0 failed today; docs paused (auth)"
    )
    assert format_status(0, 0, 2, []) == "0 queued, 0 in flight, 2 failed today"
    assert format_status(5, 2, 0, ["docs (auth)", "retarus"], inbox="last poll 10:15") == (
        "5 queued, 2 in flight, 0 failed today; docs paused (auth), retarus paused; "
        "inbox: last poll 10:15"
    )
    assert format_status(0, 0, 0, [], inbox="offline (timeout)").endswith(
        "; inbox: offline (timeout)"
    )
