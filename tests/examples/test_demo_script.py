"""scripts/demo when its sandbox cannot start: a clear message and exit 1, never faxd
run against whatever else holds the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from faxd.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_stops_when_its_port_is_taken() -> None:
    if not (ROOT / ".venv" / "bin" / "faxd").exists():
        pytest.skip("the demo runs from the checkout's .venv, which is not set up")
    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", 8025))
        except OSError:
            pytest.skip("port 8025 is in use here (a demo running?)")
        taken.listen()
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "demo")],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "The sandbox did not start" in done.stderr
    assert "8025" in done.stderr
    assert "faxd is running" not in done.stdout + done.stderr


def test_the_demo_stops_when_another_sandbox_holds_its_port() -> None:
    """A sandbox left running answered the demo's readiness probe, and faxd ran against
    it while the demo's own sandbox had exited."""
    if not (ROOT / ".venv" / "bin" / "faxd").exists():
        pytest.skip("the demo runs from the checkout's .venv, which is not set up")
    try:
        other = SandboxServer({}, port=8025).start()
    except OSError:
        pytest.skip("port 8025 is in use here (a demo running?)")
    demo = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "demo")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a demo that went on to run faxd is stopped with its group
    )
    try:
        out, err = demo.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGTERM)
        out, err = demo.communicate(timeout=60)
    finally:
        other.stop()
    assert demo.returncode == 1, out + err
    assert "The sandbox did not start" in err
    assert "8025" in err
    assert "faxd is running" not in out + err
