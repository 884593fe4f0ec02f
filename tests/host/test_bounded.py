"""Converter processes run under a memory limit: one hostile document cannot take the
machine's memory."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from faxd.host.bounded import bounded_command

GREEDY = [sys.executable, "-c", "block = bytearray(1024 * 1024 * 1024)"]


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="util-linux prlimit is missing")
def test_a_process_over_its_memory_limit_fails() -> None:
    limited = bounded_command(GREEDY, memory=512 * 1024 * 1024, cpu_seconds=30)
    done = subprocess.run(limited, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "MemoryError" in done.stderr


def test_without_prlimit_the_command_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert bounded_command(GREEDY, memory=1, cpu_seconds=1) == GREEDY
