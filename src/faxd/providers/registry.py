"""The provider table: every provider type faxd knows, by its `type:` in the
configuration. Configuration parsing, the factory, preflight limits, report labels and
capability checks all look a provider up here, so a new provider is a module in
faxd/providers/ and one line in PROVIDERS."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from faxd.host.logs import register_secret
from faxd.providers.base import Sender
from faxd.providers.docs_type import DOCS
from faxd.providers.provider_type import DEFAULT_CONNECTIONS, Capability, ProviderType
from faxd.providers.retarus_type import RETARUS
from faxd.settings import ProviderSettings, Secret, Settings

PROVIDERS: dict[str, ProviderType] = {entry.type: entry for entry in (DOCS, RETARUS)}


def provider_type(settings: ProviderSettings) -> ProviderType:
    return PROVIDERS[settings.type]


def types_that_can(capability: Capability) -> tuple[str, ...]:
    return tuple(name for name, entry in PROVIDERS.items() if entry.can(capability))


def build_sender(
    settings: ProviderSettings, state_dir: Path, connections: int = DEFAULT_CONNECTIONS
) -> Sender:
    """The provider's client; its credential is masked in every log line from now on.
    `connections`: how many requests it may have under way at once."""
    entry = provider_type(settings)
    secret = getattr(settings, entry.credential_key, None)
    if isinstance(secret, Secret):
        register_secret(secret)
    return entry.build(settings, state_dir / entry.type, connections)


def build_senders(settings: Settings, connections: int = DEFAULT_CONNECTIONS) -> dict[str, Sender]:
    return {
        name: build_sender(p, settings.state_dir, connections)
        for name, p in settings.providers.items()
    }


def label(providers: Mapping[str, ProviderSettings], name: str) -> str:
    """How reports name the provider configured as `name`: its type's label."""
    settings = providers.get(name)
    entry = PROVIDERS.get(settings.type) if settings is not None else None
    return entry.label if entry is not None else name
