"""Fixtures for the provider tests: real loopback servers, and a guard against leaked threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from rawserver import Behaviour, RawServer


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
