from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, for_sandbox


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer({"status_delay": 0.3}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def faxd(tmp_path: Path, sandbox: SandboxServer) -> Iterator[Faxd]:
    instance = for_sandbox(Faxd, tmp_path, sandbox)
    try:
        yield instance
    finally:
        instance.stop()
