from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.sandbox.server import SandboxServer

from .harness import Faxd


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer({"status_delay": 0.3}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def faxd(tmp_path: Path, sandbox: SandboxServer) -> Iterator[Faxd]:
    instance = Faxd(
        root=tmp_path,
        docs_url=sandbox.docs_base_url,
        retarus_submit=sandbox.retarus_submit_url,
        retarus_dcs=tuple(sandbox.retarus_datacenter_urls),
    )
    try:
        yield instance
    finally:
        instance.stop()
