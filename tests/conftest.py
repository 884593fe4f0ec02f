"""Suite-wide fixtures: every test must leave no thread and no child process behind."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import settings

from faxd.host import logs

# No time limit per example: tests assert behaviour, not speed (that is benchmarks/'s), and
# on a loaded two-core machine hypothesis's 200 ms deadline failed tests that were right.
settings.register_profile("faxd", deadline=None)
settings.load_profile("faxd")


def _children() -> set[int]:
    try:
        text = open(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read()
    except OSError:
        return set()
    return {int(pid) for pid in text.split()}


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    """In-process `faxd` commands configure logging to pytest's captured streams, which
    close when the test ends: start every test from structlog's defaults again."""
    yield
    logs.reset()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    threads_before = set(threading.enumerate())
    children_before = _children()
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [
            t
            for t in set(threading.enumerate()) - threads_before
            if t.is_alive() and not t.name.startswith(("ThreadPoolExecutor", "pydevd"))
        ]
        children = _children() - children_before
        if not leaked and not children:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    names = ", ".join(sorted(t.name for t in leaked))
    pytest.fail(f"test leaked threads [{names}] or child processes {sorted(children)}")


_E2E = os.path.join(os.path.dirname(__file__), "e2e") + os.sep


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e runs the real daemon as a process: mark it, so that
    `-m "not e2e"` is the fast suite. They also go first: they mostly wait on the daemon,
    so with several workers (`scripts/test` runs `-n 4`) the quick in-process tests fill
    the gaps instead of one long end-to-end test finishing alone at the end."""
    for item in items:
        if str(item.path).startswith(_E2E):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: 0 if str(item.path).startswith(_E2E) else 1)
