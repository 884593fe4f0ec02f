"""Crash and hang points for the durability tests: `FAXD_CRASH_AT=<name>` kills the process
with SIGKILL when execution reaches that point, as a power cut would."""

from __future__ import annotations

import os
import signal
import threading


def crash_point(name: str) -> None:
    wanted = os.environ.get("FAXD_CRASH_AT")
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)


def hang_point(name: str, detail: str = "") -> None:
    """`FAXD_HANG_AT=<name>` or `<name>:<detail>` blocks the thread that reaches the point
    for good, as a read from a share whose server went away does."""
    wanted = os.environ.get("FAXD_HANG_AT")
    if wanted and any(w in (name, f"{name}:{detail}") for w in wanted.split(",")):
        threading.Event().wait()


def hanging() -> bool:
    """Whether a hang point is set: the daemon then watches for stalls within seconds."""
    return bool(os.environ.get("FAXD_HANG_AT"))
