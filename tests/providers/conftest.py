"""Fixtures for the provider tests: real loopback servers and the sandbox emulator.

(tests/conftest.py fails any test that leaves a thread running.)"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faxd.clock import FakeClock
from faxd.sandbox.server import SandboxServer

from .contract_rigs import RIG_BUILDERS, STATUS_DELAY, Rig
from .rawserver import Behaviour, RawServer


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> RawServer:
        server = RawServer(behaviour, tls=tls)
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
