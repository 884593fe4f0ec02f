"""The `providers:` section: one account per name. Its `type:` names an entry of the
provider table (faxd/providers/registry.py), whose parser reads the rest through
`_Reader`, so each problem is still reported with its key path and line."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path

from faxd.config import values as v
from faxd.config.yaml_tree import Node, Problems
from faxd.core.retry import (
    OUTCOME_LOOKUP_FIRST,
    OUTCOME_LOOKUP_MAX,
    SCHEDULE_MIN,
    STATUS_POLL_FIRST,
    STATUS_POLL_MAX,
)
from faxd.providers.provider_type import Common, ProviderType
from faxd.providers.registry import PROVIDERS
from faxd.settings import ProviderSettings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NO_INSECURE = (
    "TLS verification cannot be turned off; to trust a private CA, point ca_bundle at its "
    "certificate file."
)
_REFUSED_COMMON = dict.fromkeys(("verify", "verify_tls", "tls_verify", "insecure"), _NO_INSECURE)


def _inline_refused(entry: ProviderType) -> dict[str, str]:
    stem = entry.credential_key
    return {
        stem: f"{entry.credential_label} must not be written into the configuration; put it in a "
        f"file and set {stem}_file (e.g. ${{CREDENTIALS_DIRECTORY}}/name), or set {stem}_env "
        "to an environment variable's name.",
        **_REFUSED_COMMON,
    }


def parse_providers(
    node: Node | None, base: Path, environ: Mapping[str, str], problems: Problems
) -> dict[str, ProviderSettings]:
    if node is None:
        problems.add("providers", "missing: configure at least one provider.", None)
        return {}
    if node.kind != "map":
        problems.add(node, f"must be a mapping of provider names, not {v.describe(node)}.")
        return {}
    providers: dict[str, ProviderSettings] = {}
    for name, entry in node.value.items():
        if not _NAME.match(name):
            problems.add(
                entry,
                f"provider name '{name}' may hold only letters, digits, '.', '_' and '-'.",
            )
            continue
        parsed = _parse_provider(name, entry, base, environ, problems)
        if parsed is not None:
            providers[name] = parsed
    if not node.value:
        problems.add(node, "configure at least one provider.")
    return providers


def _parse_provider(
    name: str, node: Node, base: Path, environ: Mapping[str, str], problems: Problems
) -> ProviderSettings | None:
    kind = v.type_key(node, tuple(PROVIDERS), problems)
    entry = PROVIDERS.get(kind) if kind is not None else None
    if entry is None:
        return None
    entries = v.mapping(node, entry.keys, problems, _inline_refused(entry))
    return entry.parse(name, _Reader(entry, node, entries, base, environ, problems))


class _Reader:
    """faxd.providers.provider_type.SettingsReader over one provider's YAML mapping."""

    def __init__(
        self,
        entry: ProviderType,
        node: Node,
        entries: dict[str, Node],
        base: Path,
        environ: Mapping[str, str],
        problems: Problems,
    ) -> None:
        self._entry = entry
        self._node = node
        self._entries = entries
        self._base = base
        self._environ = environ
        self._problems = problems

    def has(self, key: str) -> bool:
        return key in self._entries

    def common(self, read_timeout: float) -> Common:
        credential, credential_file, credential_env = v.secret(
            self._entries,
            self._node,
            self._entry.credential_key,
            self._base,
            self._environ,
            self._problems,
            self._entry.credential_label,
        )
        connect, read = _timeouts(self._entries, self._problems, read_timeout)
        return Common(
            ca_bundle=_ca_bundle(self._entries, self._base, self._environ, self._problems),
            connect_timeout=connect,
            read_timeout=read,
            lookup_delay=self._first_wait("lookup_delay", OUTCOME_LOOKUP_FIRST, OUTCOME_LOOKUP_MAX),
            status_poll=self._first_wait("status_poll", STATUS_POLL_FIRST, STATUS_POLL_MAX),
            credential=credential,
            credential_file=credential_file,
            credential_env=credential_env,
        )

    def _first_wait(self, key: str, default: float, maximum: float) -> float:
        """A schedule's first wait: between SCHEDULE_MIN (never a tight loop against the
        provider) and the schedule's maximum."""
        if key not in self._entries:
            return default
        node = self._entries[key]
        value = v.duration(node, self._problems, positive=True)
        if value is None:
            return default
        if not SCHEDULE_MIN <= value <= maximum:
            self._problems.add(
                node, f"must be between {SCHEDULE_MIN:g} s and {maximum:g} s, not {value:g} s."
            )
            return default
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        if key not in self._entries:
            if required:
                self._problems.add(self._node, f"missing '{key}'.")
            return None
        return v.text(self._entries[key], self._problems)

    def url(self, key: str) -> str | None:
        return v.url(self._entries[key], self._problems) if key in self._entries else None

    def urls(self, key: str, *, empty: str) -> tuple[str, ...] | None:
        return _urls(self._entries.get(key), empty, self._problems)

    def choice(self, key: str, options: Sequence[str]) -> str | None:
        if key not in self._entries:
            return None
        return v.choice(self._entries[key], options, self._problems)

    def timezone(self, key: str) -> str | None:
        return _timezone(self._entries[key], self._problems) if key in self._entries else None

    def problem(self, key: str | None, message: str) -> None:
        self._problems.add(self._node if key is None else self._entries[key], message)

    def warn(self, key: str, message: str) -> None:
        self._problems.warn(self._entries[key], message)


def _timeouts(
    entries: dict[str, Node], problems: Problems, read_default: float
) -> tuple[float, float]:
    connect = read = None
    # A request that waits longer than an hour for an answer is a provider that is down.
    most = (3600.0, "an hour")
    if "connect_timeout" in entries:
        connect = v.duration(entries["connect_timeout"], problems, positive=True, maximum=most)
    if "read_timeout" in entries:
        read = v.duration(entries["read_timeout"], problems, positive=True, maximum=most)
    return (connect or 10.0), (read or read_default)


def _ca_bundle(
    entries: dict[str, Node], base: Path, environ: Mapping[str, str], problems: Problems
) -> Path | None:
    if "ca_bundle" not in entries:
        return None
    return v.path(entries["ca_bundle"], base, environ, problems)


def _timezone(node: Node, problems: Problems) -> str | None:
    value = v.text(node, problems)
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.add(node, f"'{value}' is not a time zone name like Europe/Stockholm.")
        return None
    return value


def _urls(node: Node | None, empty: str, problems: Problems) -> tuple[str, ...] | None:
    if node is None:
        return None
    items = node.value if node.kind == "seq" else [node]
    urls = [v.url(item, problems) for item in items]
    if not items:
        problems.add(node, empty)
        return None
    if any(u is None for u in urls):
        return None
    return tuple(u for u in urls if u is not None)
