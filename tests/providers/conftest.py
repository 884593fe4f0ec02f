"""Fixtures for the provider tests: real loopback servers, and a guard against leaked threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faxd.clock import FakeClock
from faxd.sandbox.server import SandboxServer

from .contract_rigs import RIG_BUILDERS, STATUS_DELAY, Rig
from .rawserver import Behaviour, RawServer


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith("pydevd")
    ]
    for thread in leaked:
        thread.join(5)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"the test left threads running: {still}"


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(behaviour: Behaviour, **kwargs: object) -> RawServer:
        server = RawServer(behaviour, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=sorted(RIG_BUILDERS))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    """Each provider against a fresh sandbox that shares the provider's fake clock."""
    clock = FakeClock()
    with SandboxServer({"status_delay": STATUS_DELAY}, clock=clock) as sandbox:
        built = RIG_BUILDERS[request.param](sandbox, clock, tmp_path)
        try:
            yield built
        finally:
            built.close()
