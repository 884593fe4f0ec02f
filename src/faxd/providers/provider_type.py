"""What faxd knows about one provider type, in one record: the `type:` name, its settings
and how they are read from the configuration, its limits, what it can do, and how it is
built. faxd/providers/registry.py lists the records (the shape of Apache Libcloud's
provider map and fsspec's registry).

A provider's parser reads its configuration through `SettingsReader`, which faxd.config
implements over the YAML tree: so each parser lives in faxd/providers/ beside its
provider (docs_type.py, retarus_type.py), and every problem it finds is still reported
with its key path and line."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from faxd.model import Limits
from faxd.providers.base import Sender
from faxd.settings import ProviderSettings, Secret

# Requests a provider may have under way at once when nobody says how many (`faxd send`).
DEFAULT_CONNECTIONS = 10

# dft: can ask whether a number is reachable by direct fax transfer (DFT);
# inbox: can list and fetch received documents (an InboxSource);
# sweep: can list every finished transmission at once (a ReportSweeper).
Capability = Literal["dft", "inbox", "sweep"]


@dataclass(frozen=True)
class Common:
    """What every provider has: ca_bundle, connect_timeout, read_timeout, lookup_delay,
    status_poll and its credential (`<credential_key>_file` or `<credential_key>_env`),
    read and defaulted."""

    ca_bundle: Path | None
    connect_timeout: float
    read_timeout: float
    lookup_delay: float  # the first waits of the lookup and status-poll schedules
    status_poll: float
    credential: Secret | None
    credential_file: Path | None  # where the credential came from, for start-up checks
    credential_env: str | None

    def settings_fields(self) -> dict[str, Any]:
        """The keyword arguments every provider's settings type takes from these."""
        return {
            "ca_bundle": self.ca_bundle,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "lookup_delay": self.lookup_delay,
            "status_poll": self.status_poll,
            "credential_file": self.credential_file,
            "credential_env": self.credential_env,
        }


class SettingsReader(Protocol):
    """One provider's mapping in the configuration file. Each method reads one key and
    reports what is wrong with it itself; None then means absent or invalid."""

    def has(self, key: str) -> bool: ...

    def common(self, read_timeout: float) -> Common:
        """The keys in `Common`; a missing credential is reported."""
        ...

    def text(self, key: str, *, required: bool = False) -> str | None: ...

    def url(self, key: str) -> str | None: ...

    def urls(self, key: str, *, empty: str) -> tuple[str, ...] | None:
        """A URL or a list of them; `empty` is the problem an empty list is."""
        ...

    def choice(self, key: str, options: Sequence[str]) -> str | None: ...

    def timezone(self, key: str) -> str | None: ...

    def problem(self, key: str | None, message: str) -> None:
        """Report a problem at `key`, or at the provider's own mapping for None."""
        ...

    def warn(self, key: str, message: str) -> None: ...


@dataclass(frozen=True)
class ProviderType:
    type: str  # the `type:` written in the configuration
    label: str  # the provider's name in reports and notices
    settings: builtins.type[ProviderSettings]  # its frozen settings dataclass
    keys: tuple[str, ...]  # every key its mapping may hold, `type` and the credential's too
    # The credential: its key stem (`api_key` → api_key_file, api_key_env) and settings
    # field, masked in every log line; and what messages call it ("an API key").
    credential_key: str
    credential_label: str
    parse: Callable[[str, SettingsReader], ProviderSettings | None]
    # (settings, its work folder, how many requests it may have under way at once)
    build: Callable[[ProviderSettings, Path, int], Sender]
    limits: Limits
    capabilities: frozenset[Capability]
    # The zone the provider's received documents' times are named in (inbox only).
    local_zone: Callable[[ProviderSettings], str] = lambda _settings: "UTC"

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities
