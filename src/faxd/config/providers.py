"""The `providers:` section: one Generic DOCS or Retarus account per name."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path

from faxd.config import values as v
from faxd.config.yaml_tree import Node, Problems
from faxd.settings import (
    RETARUS_REGIONS,
    DocsProviderSettings,
    ProviderSettings,
    RetarusProviderSettings,
)

PROVIDER_TYPES = ("generic-docs", "retarus")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NO_INSECURE = (
    "TLS verification cannot be turned off; to trust a private CA, point ca_bundle at its "
    "certificate file."
)
_REFUSED_COMMON = dict.fromkeys(("verify", "verify_tls", "tls_verify", "insecure"), _NO_INSECURE)
_DOCS_KEYS = (
    "type",
    "base_url",
    "api_key_file",
    "api_key_env",
    "timezone",
    "ca_bundle",
    "connect_timeout",
    "read_timeout",
)
_RETARUS_KEYS = (
    "type",
    "customer_number",
    "data_center",
    "region",
    "submit_url",
    "datacenter_urls",
    "username",
    "password_file",
    "password_env",
    "ca_bundle",
    "connect_timeout",
    "read_timeout",
)


def _inline_refused(stem: str) -> dict[str, str]:
    return {
        stem: f"{v.SECRET_NAMES[stem]} must not be written into the configuration; put it in a "
        f"file and set {stem}_file (e.g. ${{CREDENTIALS_DIRECTORY}}/name), or set {stem}_env "
        "to an environment variable's name.",
        **_REFUSED_COMMON,
    }


def parse_providers(
    node: Node | None, base: Path, environ: Mapping[str, str], problems: Problems
) -> dict[str, ProviderSettings]:
    if node is None:
        problems.add("providers", "missing: configure at least one provider (see SPEC §3).", None)
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
    if node.kind != "map":
        problems.add(node, f"must be a mapping with a 'type' key, not {v.describe(node)}.")
        return None
    type_node = node.value.get("type")
    if type_node is None or type_node.is_null:
        problems.add(node, f"missing 'type': one of {' | '.join(PROVIDER_TYPES)}.")
        return None
    kind = v.choice(type_node, PROVIDER_TYPES, problems)
    if kind == "generic-docs":
        return _parse_docs(name, node, base, environ, problems)
    if kind == "retarus":
        return _parse_retarus(name, node, base, environ, problems)
    return None


def _timeouts(
    entries: dict[str, Node], problems: Problems, read_default: float
) -> tuple[float, float]:
    connect = read = None
    if "connect_timeout" in entries:
        connect = v.duration(entries["connect_timeout"], problems, positive=True)
    if "read_timeout" in entries:
        read = v.duration(entries["read_timeout"], problems, positive=True)
    return (connect or 10.0), (read or read_default)


def _ca_bundle(
    entries: dict[str, Node], base: Path, environ: Mapping[str, str], problems: Problems
) -> Path | None:
    if "ca_bundle" not in entries:
        return None
    return v.path(entries["ca_bundle"], base, environ, problems)


def _parse_docs(
    name: str, node: Node, base: Path, environ: Mapping[str, str], problems: Problems
) -> DocsProviderSettings | None:
    entries = v.mapping(node, _DOCS_KEYS, problems, _inline_refused("api_key"))
    key, key_file, key_env = v.secret(entries, node, "api_key", base, environ, problems)
    base_url = DocsProviderSettings.base_url
    if "base_url" in entries:
        base_url = v.url(entries["base_url"], problems) or base_url
    timezone = DocsProviderSettings.timezone
    if "timezone" in entries:
        timezone = _timezone(entries["timezone"], problems) or timezone
    connect, read = _timeouts(entries, problems, DocsProviderSettings.read_timeout)
    ca_bundle = _ca_bundle(entries, base, environ, problems)
    if key is None:
        return None
    return DocsProviderSettings(
        name=name,
        api_key=key,
        base_url=base_url,
        timezone=timezone,
        ca_bundle=ca_bundle,
        connect_timeout=connect,
        read_timeout=read,
        credential_file=key_file,
        credential_env=key_env,
    )


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


def _parse_retarus(
    name: str, node: Node, base: Path, environ: Mapping[str, str], problems: Problems
) -> RetarusProviderSettings | None:
    entries = v.mapping(node, _RETARUS_KEYS, problems, _inline_refused("password"))
    password, password_file, password_env = v.secret(
        entries, node, "password", base, environ, problems
    )
    customer = _required_text(entries, node, "customer_number", problems)
    username = _required_text(entries, node, "username", problems)
    region = None
    # `region` means a phone-number country everywhere else in the file, so the Retarus
    # data-center choice is `data_center`; the old name still works, with a warning.
    if "data_center" in entries and "region" in entries:
        problems.add(entries["region"], "set only data_center (region is its old name).")
    elif "data_center" in entries:
        region = v.choice(entries["data_center"], tuple(RETARUS_REGIONS), problems)
    elif "region" in entries:
        region = v.choice(entries["region"], tuple(RETARUS_REGIONS), problems)
        problems.warn(
            entries["region"],
            "region under a Retarus provider is now called data_center; rename the key "
            "(region keeps working for now).",
        )
    submit_url = v.url(entries["submit_url"], problems) if "submit_url" in entries else None
    datacenter_urls = _datacenter_urls(entries.get("datacenter_urls"), problems)
    if region is not None:
        # Explicit URLs win over the region's, so a new data center needs no faxd release.
        region_submit, region_datacenters = RETARUS_REGIONS[region]
        submit_url = submit_url or region_submit
        datacenter_urls = datacenter_urls or region_datacenters
    elif "region" not in entries and "data_center" not in entries and (
        "submit_url" not in entries or "datacenter_urls" not in entries
    ):
        problems.add(
            node,
            f"set data_center ({' | '.join(RETARUS_REGIONS)}), or both submit_url and "
            "datacenter_urls.",
        )
    connect, read = _timeouts(entries, problems, RetarusProviderSettings.read_timeout)
    ca_bundle = _ca_bundle(entries, base, environ, problems)
    if None in (password, customer, username, submit_url) or not datacenter_urls:
        return None
    assert password is not None and customer is not None and username is not None
    assert submit_url is not None and datacenter_urls is not None
    return RetarusProviderSettings(
        name=name,
        customer_number=customer,
        username=username,
        password=password,
        submit_url=submit_url,
        datacenter_urls=datacenter_urls,
        region=region,
        ca_bundle=ca_bundle,
        connect_timeout=connect,
        read_timeout=read,
        credential_file=password_file,
        credential_env=password_env,
    )


def _required_text(
    entries: dict[str, Node], parent: Node, key: str, problems: Problems
) -> str | None:
    if key not in entries:
        problems.add(parent, f"missing '{key}'.")
        return None
    return v.text(entries[key], problems)


def _datacenter_urls(node: Node | None, problems: Problems) -> tuple[str, ...] | None:
    if node is None:
        return None
    items = node.value if node.kind == "seq" else [node]
    urls = [v.url(item, problems) for item in items]
    if not items:
        problems.add(node, "list at least one data-center URL, or remove the key to use data_center.")
        return None
    if any(u is None for u in urls):
        return None
    return tuple(u for u in urls if u is not None)
