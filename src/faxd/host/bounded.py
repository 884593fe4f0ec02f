"""Limits for the converter processes faxd starts (Ghostscript, LibreOffice).

A document must not be able to take the machine's memory or CPU: the converter runs under
an address-space and a CPU-time limit, set by util-linux `prlimit`, which execs it (so a
time-out that kills the child kills the converter itself). `preexec_fn` would do the same
without the extra program, but is not safe in a process with threads."""

from __future__ import annotations

import math
import shutil


def bounded_command(command: list[str], *, memory: int, cpu_seconds: float) -> list[str]:
    """`command`, run with at most `memory` bytes of address space and `cpu_seconds` of
    CPU; unchanged where prlimit is missing (the caller's wall-clock time-out still holds)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return command
    return [prlimit, f"--as={memory}", f"--cpu={math.ceil(cpu_seconds)}", "--", *command]
