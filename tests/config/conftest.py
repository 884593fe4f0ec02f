"""Fixtures for the configuration tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Writes a (dedented) config file into tmp_path and returns its path."""

    def write(text: str) -> Path:
        path = tmp_path / "faxd.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
