"""Settings for tests of one part of faxd, built like the configuration loader would:
no provider, no folder, one upload at a time, unless a test says otherwise."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from faxd.settings import FolderSettings, Settings


def bare_settings(state_dir: Path, **values: Any) -> Settings:
    """Settings whose journal and work folders live in `state_dir`; `values` replace any
    field (providers, folders, channels, concurrency…)."""
    base = Settings(
        source=state_dir / "faxd.yaml",
        state_dir=state_dir,
        providers={},
        default_provider="docs",
        region="SE",
        concurrency=1,
        folders=(),
    )
    return dataclasses.replace(base, **values)


def folder_settings(path: Path, filed_in: Path, **values: Any) -> FolderSettings:
    """A spool folder at `path` sending through "docs", filing into `filed_in`/sent and
    `filed_in`/failed; `values` replace any field."""
    base = FolderSettings(
        path=path,
        provider="docs",
        sender="+4612345678",
        region="SE",
        sent_dir=filed_in / "sent",
        failed_dir=filed_in / "failed",
    )
    return dataclasses.replace(base, **values)
