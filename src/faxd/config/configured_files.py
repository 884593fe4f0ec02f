"""The files the configuration has faxd read, at start and on every reload, each with the
keys that set it: the credentials (`*_file`), the CA bundles, the contacts file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from faxd.config.configured_folders import Configured
from faxd.providers.registry import PROVIDERS
from faxd.settings import Settings, SmtpChannel, WebhookChannel


@dataclass(frozen=True)
class Read(Configured):
    secret: bool  # a credential, which systemd's LoadCredential= can hand over


def read(settings: Settings) -> Iterator[Read]:
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
    if settings.contacts_file is not None:
        yield Read(settings.contacts_file, ("contacts_file",), secret=False)
