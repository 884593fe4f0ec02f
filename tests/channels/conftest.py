from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import SmtpSink, make_cert, smtp_sink


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp(tls_cert: tuple[Path, Path]) -> Iterator[SmtpSink]:
    with smtp_sink(tls_cert) as sink:
        yield sink
