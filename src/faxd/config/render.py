"""The effective configuration as YAML, for `faxd check-config`: every default applied,
paths absolute, secrets shown as "***" (their source file or variable is shown instead)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from faxd.core import yaml_text
from faxd.core.secret_url import shown_url
from faxd.providers.registry import PROVIDERS
from faxd.settings import (
    ChannelSettings,
    FolderSettings,
    ProviderSettings,
    RetarusOptions,
    Secret,
    Settings,
    WebhookChannel,
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
        "contacts_file": str(settings.contacts_file) if settings.contacts_file else None,
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
            "download_timeout": inbox.download_timeout,
            "deliver": list(inbox.deliver),
            "attach": inbox.attach,
            "route_rules": _plain(inbox.route_rules),
        }
    if settings.channels:
        document["channels"] = {name: _channel(ch) for name, ch in settings.channels.items()}
    if settings.alerts is not None:
        document["alerts"] = _plain(settings.alerts)
    if settings.templates is not None:
        document["templates"] = str(settings.templates)
    document["records"] = {
        "path": str(settings.records.path or settings.state_dir / "records"),
        "csv": settings.records.csv,
    }
    document["retention"] = _plain(dataclasses.asdict(settings.records.retention))
    header = (
        f"# Effective configuration from {settings.source}\n"
        "# (defaults applied, paths absolute, secrets hidden)\n"
    )
    return header + yaml_text.dump(document)


def _provider(provider: ProviderSettings) -> dict[str, Any]:
    stem = PROVIDERS[provider.type].credential_key
    shown: dict[str, Any] = {"type": provider.type}
    for item in dataclasses.fields(provider):
        if item.name in ("name", "type", stem):
            continue
        if item.name == "credential_file":
            shown[f"{stem}_file"] = _plain(provider.credential_file)
        elif item.name == "credential_env":
            shown[f"{stem}_env"] = provider.credential_env
        else:
            shown[item.name] = _plain(getattr(provider, item.name))
    shown[stem] = HIDDEN
    return {key: value for key, value in shown.items() if value is not None or key == stem}


def _channel(channel: ChannelSettings) -> dict[str, Any]:
    shown = {k: val for k, val in _plain(channel).items() if k != "name"}
    if isinstance(channel, WebhookChannel):
        shown["url"] = shown_url(channel.url)  # the hook's token may be in its path or query
    return shown


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
    if isinstance(value, Secret):
        return HIDDEN
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value
