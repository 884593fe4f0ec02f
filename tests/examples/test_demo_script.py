"""scripts/demo when its sandbox cannot start: a clear message and exit 1, never faxd
run against whatever else holds the port."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

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
