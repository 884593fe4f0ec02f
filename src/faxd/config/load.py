"""Load the YAML configuration into `faxd.settings.Settings`.

The file is validated as a whole and every problem is reported at once, each with its
key path (`folders[1].to[0]`) and line, the way borgmatic does it: an admin fixes the
file in one pass instead of one error per restart."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from faxd.config import values as v
from faxd.config.channels import channel_types, parse_alerts, parse_channels, parse_templates
from faxd.config.contacts_file import MAX_PROBLEMS, read_contacts_file
from faxd.config.folders import (
    DEFAULT_REGION,
    DEFAULTS_KEYS,
    Context,
    Parsed,
    build_folder,
    build_inbox,
    parse_contacts,
    parse_level,
    parse_region,
)
from faxd.config.host_checks import check_environment
from faxd.config.overlap import check_overlaps
from faxd.config.providers import parse_providers
from faxd.config.records import parse_records
from faxd.config.render import render_effective
from faxd.config.shared_filing import split_shared_filing
from faxd.config.yaml_tree import Node, Problems, read_tree
from faxd.errors import ConfigError, ConfigProblem
from faxd.settings import FolderSettings, InboxSettings, Settings

__all__ = [
    "DEFAULT_PATH",
    "check_environment",
    "config_path",
    "load",
    "render_effective",
]

# Uploads in flight per provider. Providers answer in tens of milliseconds at best, so
# a burst of 400 documents needs 8 at a time to go out in about five seconds; a 429 pauses
# the whole provider, which keeps a higher number polite.
DEFAULT_CONCURRENCY = 8
DEFAULT_PATH = Path("/etc/faxd/faxd.yaml")
TOP_KEYS = (
    "state_dir",
    "providers",
    "defaults",
    "contacts",
    "contacts_file",
    "folders",
    "inbox",
    "log_level",
    "dft_cache",
    "channels",
    "alerts",
    "templates",
    "records",
    "retention",
)
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_STATE_DIR = Path("/var/lib/faxd")


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """--config, else $FAXD_CONFIG, else /etc/faxd/faxd.yaml."""
    if cli_value:
        return Path(cli_value)
    if environ.get("FAXD_CONFIG"):
        return Path(environ["FAXD_CONFIG"])
    return DEFAULT_PATH


def load(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings in `path`; raises ConfigError listing every problem found."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    source = Path(os.path.abspath(path))
    problems = Problems()
    tree = read_tree(source, problems)
    settings = None if tree is None else _build(tree, source, env, problems)
    if problems or settings is None:
        raise ConfigError(str(source), _in_file_order(problems.items))
    if problems.warnings:
        notes = tuple(str(w) for w in _in_file_order(problems.warnings))
        settings = replace(settings, warnings=notes)
    return settings


def _in_file_order(items: list[ConfigProblem]) -> list[ConfigProblem]:
    # An aliased node is visited once per alias; its problem is reported once.
    unique = list(dict.fromkeys(items))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0))


def _build(
    tree: Node, source: Path, environ: Mapping[str, str], problems: Problems
) -> Settings | None:
    base = source.parent
    top = v.mapping(tree, TOP_KEYS, problems)
    if tree.kind != "map":
        return None

    state_dir = DEFAULT_STATE_DIR
    if "state_dir" in top:
        state_dir = v.path(top["state_dir"], base, environ, problems) or state_dir
    log_level = "info"
    if "log_level" in top:
        log_level = v.choice(top["log_level"], LOG_LEVELS, problems) or log_level
    dft_cache = 86400.0
    if "dft_cache" in top:
        found = v.duration(top["dft_cache"], problems)
        dft_cache = found if found is not None else dft_cache

    providers = parse_providers(top.get("providers"), base, environ, problems)
    provider_types = _declared_types(top.get("providers"))

    defaults_node = top.get("defaults")
    defaults_entries = (
        v.mapping(defaults_node, DEFAULTS_KEYS, problems) if defaults_node is not None else {}
    )
    region = parse_region(defaults_entries, problems) or DEFAULT_REGION
    ctx = Context(base, environ, problems, frozenset(provider_types))
    channels = parse_channels(top.get("channels"), base, environ, problems)
    ctx.channel_types = channel_types(top.get("channels"))
    alerts = parse_alerts(top.get("alerts"), ctx.channel_types, problems)
    templates = parse_templates(top.get("templates"), base, environ, problems)
    contacts_file, from_file = _contacts_file(
        top.get("contacts_file"), base, environ, region, problems
    )
    # A name in the config wins over the same name in the file: the config is what the
    # admin wrote for faxd, the file is an export of the office's address book.
    ctx.contacts = {**from_file, **parse_contacts(top.get("contacts"), region, problems)}
    defaults = parse_level(defaults_entries, region, ctx)
    default_provider = _default_provider(defaults, defaults_node, provider_types, problems)

    located = _folders(top.get("folders"), defaults, region, default_provider or "", ctx)
    located = split_shared_filing(located, defaults.values.keys(), problems)
    folders = tuple(folder for _, _, folder in located)
    inbox = _inbox(top.get("inbox"), provider_types, default_provider, region, ctx)
    if "folders" not in top and "inbox" not in top:
        problems.add(tree, "nothing to do: configure folders (to send) or an inbox (to receive).")
    records = parse_records(top.get("records"), top.get("retention"), base, environ, problems)
    check_overlaps(
        located,
        top.get("inbox"),
        inbox,
        state_dir,
        top.get("state_dir"),
        problems,
        (records.path, top.get("records")),
    )

    settings = Settings(
        source=source,
        state_dir=state_dir,
        providers=providers,
        default_provider=default_provider or "",
        region=region,
        concurrency=defaults.values.get("concurrency", DEFAULT_CONCURRENCY),
        folders=folders,
        contacts=ctx.contacts,
        contacts_file=contacts_file,
        inbox=inbox,
        dft_cache=dft_cache,
        log_level=log_level,
        sender=defaults.values.get("sender"),
        channels=channels,
        alerts=alerts,
        templates=templates,
        records=records,
    )
    if problems or default_provider is None:
        # The machine is checked for whatever did parse, so one run of check-config names
        # every problem it can know, not the folders' only after the file is fixed.
        problems.items.extend(check_environment(settings))
        return None
    return settings


def _contacts_file(
    node: Node | None, base: Path, environ: Mapping[str, str], region: str, problems: Problems
) -> tuple[Path | None, dict[str, str]]:
    """The contacts in `contacts_file`, each problem named with the file and its line."""
    if node is None:
        return None, {}
    path = v.path(node, base, environ, problems)
    if path is None:
        return None, {}
    found = read_contacts_file(path, region)
    for line, message in found.problems[:MAX_PROBLEMS]:
        problems.add(node, f"{path}, line {line}: {message}" if line else message)
    if len(found.problems) > MAX_PROBLEMS:
        problems.add(node, f"{path}: more problems after these; fix these first.")
    return path, found.contacts


def _declared_types(node: Node | None) -> dict[str, str | None]:
    """Provider name -> its `type` as written, also for providers that failed to parse,
    so a folder naming a broken provider is not reported a second time as unknown."""
    if node is None or node.kind != "map":
        return {}
    declared: dict[str, str | None] = {}
    for name, entry in node.value.items():
        type_node = entry.value.get("type") if entry.kind == "map" else None
        written = type_node.text if type_node is not None else None
        declared[name] = written.strip().lower() if written else None
    return declared


def _default_provider(
    defaults: Parsed,
    defaults_node: Node | None,
    provider_types: Mapping[str, str | None],
    problems: Problems,
) -> str | None:
    if "provider" in defaults.values:
        return str(defaults.values["provider"])
    if "provider" in defaults.nodes:
        return None  # written but invalid: already reported
    if len(provider_types) == 1:
        return next(iter(provider_types))
    if len(provider_types) > 1:
        problems.add(
            "defaults.provider",
            f"missing: with several providers ({', '.join(sorted(provider_types))}) name the "
            "default one.",
            defaults_node.line if defaults_node is not None else None,
        )
    return None


def _folders(
    node: Node | None, defaults: Parsed, region: str, default_provider: str, ctx: Context
) -> list[tuple[Node, int, FolderSettings]]:
    """Each valid folder with its node and index, so later checks can name its line."""
    if node is None:
        return []
    if node.kind != "seq":
        ctx.problems.add(node, "must be a list of folders, each starting with '- path: …'.")
        return []
    located = []
    for index, item in enumerate(node.value):
        folder = build_folder(item, defaults, region, default_provider, ctx)
        if folder is not None:
            located.append((item, index, folder))
    return located


def _inbox(
    node: Node | None,
    provider_types: Mapping[str, str | None],
    default_provider: str | None,
    region: str,
    ctx: Context,
) -> InboxSettings | None:
    if node is None:
        return None
    return build_inbox(node, provider_types, default_provider, region, ctx)
