"""Helpers for the configuration tests: load a config, collect its problems."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from faxd import config
from faxd.errors import ConfigError, ConfigProblem
from faxd.settings import Settings

DOCS_KEY = "docs-canary-5f1e0c"  # a canary: must never show up in any message or output
RETARUS_PASSWORD = "retarus-canary-9a7d"
ENV = {"DOCS_KEY": DOCS_KEY, "RETARUS_PW": RETARUS_PASSWORD, "HOME": "/home/fax"}

MINIMAL = """\
providers:
  docs:
    type: generic-docs
    api_key_env: DOCS_KEY
folders:
  - path: out
"""

WriteConfig = Callable[[str], Path]


def load(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    return config.load(path, ENV if environ is None else environ)


def problems(path: Path, environ: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load(path, environ)
    return caught.value.problems


def only_problem(path: Path, environ: Mapping[str, str] | None = None) -> ConfigProblem:
    found = problems(path, environ)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]
