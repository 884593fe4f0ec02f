"""Inbound tests log through structlog's defaults, whatever an earlier test configured:
`cli.main` run in process leaves structlog writing to pytest's captured stream, which is
closed once that test ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def default_logging() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
