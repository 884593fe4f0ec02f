"""Crash points for the durability tests: `FAXD_CRASH_AT=<name>` kills the process
with SIGKILL when execution reaches that point, as a power cut would."""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    wanted = os.environ.get("FAXD_CRASH_AT")
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
