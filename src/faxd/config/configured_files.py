"""The files the configuration has faxd read, at start and on every reload, each with the
keys that set it: the configuration itself, the credentials (`*_file`), the CA bundles,
the contacts file, the templates folder and the templates in it; and the programs its
command channels run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from faxd.channels.command import fixed_program
from faxd.channels.templates import NAMES as TEMPLATE_NAMES
from faxd.config.configured_folders import Configured
from faxd.providers.registry import PROVIDERS
from faxd.settings import CommandChannel, Settings, SmtpChannel, WebhookChannel

WHOLE_FILE: tuple[str, ...] = ()  # the keys of the configuration file itself: a problem has no line


@dataclass(frozen=True)
class Read(Configured):
    secret: bool  # a credential, which systemd's LoadCredential= can hand over
    listed: bool = False  # a folder: faxd lists it and reads the files in it
    run: bool = False  # a program faxd runs: executed, and read too if a script


def read(settings: Settings) -> Iterator[Read]:
    yield Read(settings.source, WHOLE_FILE, secret=False)
    for name, provider in settings.providers.items():
        at = f"providers.{name}"
        if provider.credential_file is not None:
            key = f"{at}.{PROVIDERS[provider.type].credential_key}_file"
            yield Read(provider.credential_file, (key, at), secret=True)
        if provider.ca_bundle is not None:
            yield Read(provider.ca_bundle, (f"{at}.ca_bundle", at), secret=False)
    for name, channel in settings.channels.items():
        at = f"channels.{name}"
        if isinstance(channel, SmtpChannel) and channel.password_file is not None:
            yield Read(channel.password_file, (f"{at}.password_file", at), secret=True)
        if isinstance(channel, WebhookChannel) and channel.secret_file is not None:
            yield Read(channel.secret_file, (f"{at}.secret_file", at), secret=True)
        if isinstance(channel, SmtpChannel | WebhookChannel) and channel.ca_bundle is not None:
            yield Read(channel.ca_bundle, (f"{at}.ca_bundle", at), secret=False)
    yield from programs(settings)
    if settings.contacts_file is not None:
        yield Read(settings.contacts_file, ("contacts_file",), secret=False)
    if settings.templates is not None:
        yield Read(settings.templates, ("templates",), secret=False, listed=True)
        for template in _templates(settings.templates):
            yield Read(template, ("templates",), secret=False)


def programs(settings: Settings) -> Iterator[Read]:
    """The program each command channel runs (not one whose path a message fills in)."""
    for name, channel in settings.channels.items():
        if isinstance(channel, CommandChannel) and (path := fixed_program(channel.argv)):
            at = f"channels.{name}"
            yield Read(Path(path), (f"{at}.argv", at), secret=False, run=True)


def _templates(folder: Path) -> list[Path]:
    """The templates in `folder` faxd reads (loading the configuration refused others)."""
    try:
        return sorted(entry for entry in folder.iterdir() if entry.name in TEMPLATE_NAMES)
    except OSError:
        return []  # said by loading the configuration
