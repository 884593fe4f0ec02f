"""Crash and hang points for the durability tests: `FAXD_CRASH_AT=<name>` kills the process
with SIGKILL when execution reaches that point, as a power cut would.

Both variables are read once, when faxd starts: the points sit on every document's path,
and reading the environment at each of them took 2.6 % of the samples of the thread
holding the interpreter lock during an inbox poll. The tests set them in the environment
of the process they start."""

from __future__ import annotations

import os
import signal
import threading


def _names(variable: str) -> frozenset[str]:
    return frozenset(n for n in os.environ.get(variable, "").split(",") if n)


_CRASH_AT = _names("FAXD_CRASH_AT")
_HANG_AT = _names("FAXD_HANG_AT")


def _at(points: frozenset[str], name: str, detail: str) -> bool:
    return bool(points) and (name in points or f"{name}:{detail}" in points)


def crash_point(name: str, detail: str = "") -> None:
    """`FAXD_CRASH_AT=<name>`, or `<name>:<detail>` for one file's pass only."""
    if _at(_CRASH_AT, name, detail):
        os.kill(os.getpid(), signal.SIGKILL)


def hang_point(name: str, detail: str = "") -> None:
    """`FAXD_HANG_AT=<name>` or `<name>:<detail>` blocks the thread that reaches the point
    for good, as a read from a share whose server went away does."""
    if _at(_HANG_AT, name, detail):
        threading.Event().wait()


def hanging() -> bool:
    """Whether a hang point is set: the daemon then watches for stalls within seconds."""
    return bool(_HANG_AT)
