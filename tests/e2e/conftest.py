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
def faxd(tmp_path: Path, sandbox: SandboxServer, request: pytest.FixtureRequest) -> Iterator[Faxd]:
    instance = for_sandbox(Faxd, tmp_path, sandbox)
    instance.report_pdf = request.node.get_closest_marker("report_pdfs") is not None
    try:
        yield instance
    finally:
        instance.stop()
