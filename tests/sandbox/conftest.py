"""Fixtures: a running sandbox on an ephemeral port with a fake clock, and a session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from faxd.clock import FakeClock
from faxd.sandbox.server import SandboxServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sandbox(clock: FakeClock) -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def make(scenario: dict[str, Any] | None = None) -> SandboxServer:
        srv = SandboxServer(scenario, clock=clock).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return make_sandbox({"status_delay": 10})


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
