"""The CLI's tests share one sandbox and one configured faxd folder per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.sandbox.server import SandboxServer

from ..e2e.harness import Faxd


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer({"status_delay": 0.2}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def setup(tmp_path: Path, sandbox: SandboxServer) -> Faxd:
    faxd = Faxd(root=tmp_path, docs_url=sandbox.docs_base_url)
    faxd.write_config()
    return faxd
