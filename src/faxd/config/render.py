"""The effective configuration as YAML, for `faxd check-config`: every default applied,
paths absolute, secrets shown as "***" (their source file or variable is shown instead)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from faxd.settings import (
    DocsProviderSettings,
    FolderSettings,
    ProviderSettings,
    RetarusOptions,
    Settings,
)

HIDDEN = "***"


def render_effective(settings: Settings) -> str:
    document: dict[str, Any] = {
        "state_dir": str(settings.state_dir),
        "log_level": settings.log_level,
        "dft_cache": settings.dft_cache,
        "providers": {name: _provider(p) for name, p in settings.providers.items()},
        "defaults": {
            "provider": settings.default_provider,
            "region": settings.region,
            "sender": settings.sender,
            "concurrency": settings.concurrency,
        },
        "contacts": dict(settings.contacts),
        "folders": [_folder(folder) for folder in settings.folders],
        "inbox": None,
    }
    if settings.inbox is not None:
        inbox = settings.inbox
        document["inbox"] = {
            "provider": inbox.provider,
            "path": str(inbox.path),
            "poll_interval": inbox.poll_interval,
            "lookback": inbox.lookback,
            "routes": {number: str(path) for number, path in inbox.routes.items()},
            "numbers": list(inbox.numbers),
            "delete_after_download": inbox.delete_after_download,
        }
    header = (
        f"# Effective configuration from {settings.source}\n"
        "# (defaults applied, paths absolute, secrets hidden)\n"
    )
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return header + body


def _provider(provider: ProviderSettings) -> dict[str, Any]:
    stem = "api_key" if isinstance(provider, DocsProviderSettings) else "password"
    shown: dict[str, Any] = {"type": provider.type}
    for item in dataclasses.fields(provider):
        if item.name in ("name", "type", "api_key", "password"):
            continue
        if item.name == "credential_file":
            shown[f"{stem}_file"] = _plain(provider.credential_file)
        elif item.name == "credential_env":
            shown[f"{stem}_env"] = provider.credential_env
        else:
            shown[item.name] = _plain(getattr(provider, item.name))
    shown[stem] = HIDDEN
    return {key: value for key, value in shown.items() if value is not None or key == stem}


def _folder(folder: FolderSettings) -> dict[str, Any]:
    shown = {item.name: _plain(getattr(folder, item.name)) for item in dataclasses.fields(folder)}
    shown["retarus"] = _retarus(folder.retarus)
    return shown


def _retarus(options: RetarusOptions) -> dict[str, Any]:
    return {
        item.name: _plain(getattr(options, item.name))
        for item in dataclasses.fields(options)
        if getattr(options, item.name) not in (None, {})
    }


def _plain(value: Any) -> Any:
    """Values safe_dump can write: paths as text, tuples as lists."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
