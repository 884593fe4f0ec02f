"""Generic DOCS v2 as a provider type: its configuration, limits and capabilities."""

from __future__ import annotations

from pathlib import Path

from faxd.core.preflight import KNOWN_TYPES, MAX_FILE_SIZE
from faxd.model import Limits
from faxd.providers.base import Sender
from faxd.providers.provider_type import ProviderType, SettingsReader
from faxd.settings import DocsProviderSettings, ProviderSettings

# The file types the DOCS API documents, at most five files of 16 MB each.
DOCS_LIMITS = Limits(
    max_files=5,
    max_file_size=MAX_FILE_SIZE,
    extensions={
        ext: KNOWN_TYPES[ext]
        for ext in (
            *("bmp", "gif", "jpg", "jpeg", "pcx", "png", "tif", "tiff"),
            *("doc", "docx", "pdf", "ppt", "pptx", "txt", "xls", "xlsx"),
        )
    },
)

_KEYS = (
    "type",
    "base_url",
    "api_key_file",
    "api_key_env",
    "timezone",
    "ca_bundle",
    "connect_timeout",
    "read_timeout",
    "lookup_delay",
    "status_poll",
)


def parse_docs(name: str, read: SettingsReader) -> DocsProviderSettings | None:
    common = read.common(DocsProviderSettings.read_timeout)
    base_url = read.url("base_url") or DocsProviderSettings.base_url
    timezone = read.timezone("timezone") or DocsProviderSettings.timezone
    if common.credential is None:
        return None
    return DocsProviderSettings(
        name=name,
        api_key=common.credential,
        base_url=base_url,
        timezone=timezone,
        **common.settings_fields(),
    )


def build_docs(settings: ProviderSettings, workdir: Path, connections: int) -> Sender:
    from faxd.providers.docs import DocsProvider  # imported when used: keeps CLI start fast

    assert isinstance(settings, DocsProviderSettings)
    return DocsProvider(settings, connections=connections)


def _zone(settings: ProviderSettings) -> str:
    assert isinstance(settings, DocsProviderSettings)
    return settings.timezone


DOCS = ProviderType(
    type="generic-docs",
    label="Generic DOCS",
    settings=DocsProviderSettings,
    keys=_KEYS,
    credential_key="api_key",
    credential_label="an API key",
    parse=parse_docs,
    build=build_docs,
    limits=DOCS_LIMITS,
    capabilities=frozenset({"dft", "inbox"}),
    local_zone=_zone,
)
