"""The `defaults:`, `contacts:`, `folders:` and `inbox:` sections.

Every folder key may also be written under `defaults`; a folder's own value wins. Each
value is parsed where it is written, so national numbers under `defaults` use
`defaults.region` and those in a folder use the folder's region."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

from faxd.config import values as v
from faxd.config.channels import notify_rules, targets
from faxd.config.retarus import retarus_options
from faxd.config.yaml_tree import Node, Problems
from faxd.core.print_clues import compile_pattern
from faxd.core.trunk_prefix import TrunkPrefix, trunk_prefix
from faxd.providers.registry import types_that_can
from faxd.settings import (
    DeliveryAttach,
    FolderSettings,
    InboxSettings,
    RetarusOptions,
    RouteRule,
)

FOLDER_KEYS = (
    "path",
    "to",
    "provider",
    "sender",
    "region",
    "dft",
    "settle",
    "sidecar_wait",
    "max_attempts",
    "give_up_after",
    "status_timeout",
    "sent_dir",
    "failed_dir",
    "watch",
    "rescan_interval",
    "retarus",
    "name_pattern",
    "embedded_code",
    "convert_postscript",
    "allow",
    "deny",
    "misdial_guard",
    "new_numbers",
    "hold_dir",
    "notify",
    "delayed_after",
    "station_name",
    "report_pdf",
)
DEFAULTS_KEYS = (*(key for key in FOLDER_KEYS if key != "path"), "concurrency")
INBOX_KEYS = (
    "provider",
    "path",
    "poll_interval",
    "lookback",
    "routes",
    "numbers",
    "delete_after_download",
    "download_timeout",
    "deliver",
    "attach",
)
DEFAULT_REGION = "SE"
# Each upload in flight holds two threads and a connection: thousands would run into the
# service's task limit long before a provider accepted that many at once.
MAX_CONCURRENCY = 64
_CONCURRENCY_WHY = " (uploads in flight at once per provider; providers throttle far sooner)"
_SEPARATORS = re.compile(r"[,;]")
_PREFIX = re.compile(r"^\+[1-9][0-9]{0,14}$")
_TRUNK = re.compile(r"\+([1-9][0-9]{0,2})\(([0-9]+)\)(.*)")
# YAML 1.1 reads `dft: no` as false; an admin who writes it means "never".
_DFT_ALIASES = {
    "true": "prefer",
    "yes": "prefer",
    "on": "prefer",
    "false": "never",
    "no": "never",
    "off": "never",
}
_DURATIONS = {  # key -> must be more than zero
    "settle": False,
    "sidecar_wait": False,
    "give_up_after": True,
    "status_timeout": True,
    "rescan_interval": True,
    "delayed_after": True,
}


@dataclass
class Context:
    """What parsing a folder value needs from the rest of the file."""

    base: Path
    environ: Mapping[str, str]
    problems: Problems
    provider_names: frozenset[str]
    contacts: dict[str, str] = field(default_factory=dict)
    channel_types: dict[str, str] = field(default_factory=dict)  # name -> type, for targets


@dataclass
class Parsed:
    """The keys written at one level (defaults or a folder), parsed; absent keys absent."""

    values: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)


def parse_region(entries: Mapping[str, Node], problems: Problems) -> str | None:
    if "region" not in entries:
        return None
    return v.region_code(entries["region"], problems)


def parse_level(entries: dict[str, Node], region: str, ctx: Context) -> Parsed:
    """Parse every folder key present at one level."""
    parsed = Parsed(nodes=dict(entries))
    out, problems = parsed.values, ctx.problems
    for key, node in entries.items():
        value: Any = None
        if key == "to":
            value = recipients(node, region, ctx)
        elif key == "provider":
            value = provider_name(node, ctx)
        elif key == "sender":
            value = v.number(node, region, problems)
        elif key == "region":
            value = region  # parsed by the caller: every number here depends on it
        elif key == "dft":
            value = v.choice(node, ("prefer", "never"), problems, _DFT_ALIASES)
        elif key in _DURATIONS:
            value = v.duration(node, problems, positive=_DURATIONS[key])
        elif key == "max_attempts":
            value = v.integer(node, problems, minimum=1)
        elif key == "concurrency":
            value = v.integer(node, problems, 1, MAX_CONCURRENCY, _CONCURRENCY_WHY)
        elif key in ("allow", "deny"):
            value = prefixes(node, problems)
        elif key == "misdial_guard":
            value = v.boolean(node, problems)
        elif key == "new_numbers":
            value = v.choice(node, ("send", "hold"), problems)
        elif key in ("sent_dir", "failed_dir", "hold_dir", "path"):
            value = v.path(node, ctx.base, ctx.environ, problems)
        elif key == "watch":
            value = v.choice(node, ("auto", "inotify", "poll"), problems)
        elif key == "retarus":
            value = retarus_options(node, problems)
        elif key in ("name_pattern", "embedded_code"):
            value = pattern(node, problems)
        elif key in ("convert_postscript", "report_pdf"):
            value = v.boolean(node, problems)
        elif key == "station_name":
            value = v.text(node, problems)
        elif key == "notify":
            value = notify_rules(node, ctx.channel_types, problems)
        if value is not None:
            out[key] = value
    return parsed


def provider_name(node: Node, ctx: Context) -> str | None:
    name = v.text(node, ctx.problems)
    if name is None:
        return None
    if name not in ctx.provider_names:
        known = ", ".join(sorted(ctx.provider_names)) or "none configured"
        ctx.problems.add(node, f"provider '{name}' is not configured under providers ({known}).")
        return None
    return name


def recipients(node: Node, region: str, ctx: Context) -> tuple[str, ...] | None:
    """Contact names as written, numbers in E.164; `a, b; c` gives three recipients."""
    items = node.value if node.kind == "seq" else [node]
    found: list[str] = []
    valid = True
    for item in items:
        written = v.text(item, ctx.problems)
        if written is None:
            valid = False
            continue
        if written in ctx.contacts:
            found.append(written)
            continue
        for part in _SEPARATORS.split(written):
            part = part.strip()
            if not part:
                continue
            if part in ctx.contacts:
                found.append(part)
                continue
            try:
                found.append(v.parse_number(part, region))
            except ValueError as exc:
                ctx.problems.add(item, f"{exc} (Not a name under contacts either.)")
                valid = False
    return tuple(found) if valid else None


def prefixes(node: Node, problems: Problems) -> tuple[str, ...] | None:
    """E.164 prefixes for allow/deny: `+46`, `+46900`; spaces, dashes and brackets are
    dropped, and a trunk digit in brackets (`+46 (0)900`) with them."""
    items = node.value if node.kind == "seq" else [node]
    found: list[str] = []
    for item in items:
        written = v.text(item, problems)
        if written is None:
            return None
        prefix = re.sub(r"[()]", "", _without_trunk_digit(re.sub(r"[\s\-]", "", written)))
        if not _PREFIX.match(prefix):
            problems.add(
                item,
                f"'{written}' is not an E.164 prefix: write '+' and the country code, then as "
                "many further digits as the rule needs (+46, +46900).",
            )
            return None
        if (trunk := trunk_prefix(prefix)) is not None:
            problems.add(item, _trunk_problem(written, trunk))
            return None
        found.append(prefix)
    return tuple(dict.fromkeys(found))


def _trunk_problem(written: str, trunk: TrunkPrefix) -> str:
    # An error, not a warning: the rule cannot do what it says, and a deny rule that
    # refuses nothing is the very risk it was written against.
    begins = trunk.rest[: len(trunk.trunk)]
    what = (
        "the trunk prefix"
        if begins == trunk.trunk
        else f"the start of the trunk prefix {trunk.trunk}"
    )
    fix = (
        f"write '{trunk.meant}'"
        if trunk.meant
        else f"write the digits that follow +{trunk.code} in an international number"
    )
    return (
        f"'{written}' matches no number: after +{trunk.code} it begins with {begins}, {what} "
        f"dialled only inside the country, which E.164 numbers (what faxd compares) leave "
        f"out; {fix}."
    )


def _without_trunk_digit(compact: str) -> str:
    """`+44(0)20` -> `+4420`: the digit in brackets after the country code is the one
    dialled only at home. Recipients are read the same way ("+44 (0)20 …" is
    +4420…), so kept, it made a prefix no number starts with: a deny rule that refused
    nothing. Brackets around other digits (`+1(212)`) are only punctuation."""
    match = _TRUNK.fullmatch(compact)
    if match is None:
        return compact
    code, digits, rest = match.groups()
    regions = COUNTRY_CODE_TO_REGION_CODE.get(int(code), ())
    trunk = {
        meta.national_prefix
        for meta in map(phonenumbers.PhoneMetadata.metadata_for_region, regions)
        if meta is not None and meta.national_prefix
    }
    return f"+{code}{rest}" if digits in trunk else compact


def pattern(node: Node, problems: Problems) -> str | None:
    """A regex with a group `to`; `false` (or `off`) gives "" = the rule is off."""
    if node.value is False or node.is_null:
        return ""
    written = v.text(node, problems)
    if written is None:
        return None
    try:
        compile_pattern(written)
    except ValueError as exc:
        problems.add(node, f"'{written}' {exc}")
        return None
    return written


def parse_contacts(node: Node | None, region: str, problems: Problems) -> dict[str, str]:
    if node is None or node.is_null:
        return {}
    if node.kind != "map":
        problems.add(node, f"must map names to numbers, not {v.describe(node)}.")
        return {}
    contacts: dict[str, str] = {}
    for name, child in node.value.items():
        if not name.strip():
            problems.add(child, "a contact needs a name.")
            continue
        e164 = v.number(child, region, problems)
        if e164 is None:
            continue
        shadowing = v.contact_name_problem(name, e164, region)
        if shadowing is not None:
            problems.add(child, shadowing)
            continue
        contacts[name] = e164
    return contacts


def build_folder(
    node: Node, defaults: Parsed, default_region: str, default_provider: str, ctx: Context
) -> FolderSettings | None:
    entries = v.mapping(node, FOLDER_KEYS, ctx.problems)
    if node.kind == "map" and "path" not in entries:
        ctx.problems.add(node, "missing 'path': the spool folder to watch.")
    region = parse_region(entries, ctx.problems) or default_region
    own = parse_level(entries, region, ctx)
    if "path" not in own.values:
        return None
    return merge_folder(own.values["path"], own.values, defaults.values, region, default_provider)


def merge_folder(
    folder_path: Path,
    own: Mapping[str, Any],
    defaults: Mapping[str, Any],
    region: str,
    default_provider: str,
) -> FolderSettings:
    def pick(key: str, fallback: Any) -> Any:
        if key in own:
            return own[key]
        return defaults.get(key, fallback)

    retarus: RetarusOptions = own.get("retarus", RetarusOptions()).over(
        defaults.get("retarus", RetarusOptions())
    )
    failed_dir = pick("failed_dir", folder_path / "failed")
    return FolderSettings(
        path=folder_path,
        provider=pick("provider", default_provider),
        sender=pick("sender", None),
        region=region,
        # Inside the spool folder by default: the intake never picks up from them there.
        sent_dir=pick("sent_dir", folder_path / "sent"),
        failed_dir=failed_dir,
        to=pick("to", ()),
        dft=pick("dft", FolderSettings.dft),
        settle=pick("settle", FolderSettings.settle),
        sidecar_wait=pick("sidecar_wait", FolderSettings.sidecar_wait),
        sidecar_wait_if_seen="sidecar_wait" not in own and "sidecar_wait" not in defaults,
        max_attempts=pick("max_attempts", FolderSettings.max_attempts),
        give_up_after=pick("give_up_after", FolderSettings.give_up_after),
        status_timeout=pick("status_timeout", FolderSettings.status_timeout),
        watch=pick("watch", FolderSettings.watch),
        rescan_interval=pick("rescan_interval", FolderSettings.rescan_interval),
        retarus=retarus,
        name_pattern=pick("name_pattern", None) or None,
        embedded_code=pick("embedded_code", FolderSettings.embedded_code) or None,
        convert_postscript=pick("convert_postscript", FolderSettings.convert_postscript),
        allow=pick("allow", ()),
        deny=pick("deny", ()),
        misdial_guard=pick("misdial_guard", FolderSettings.misdial_guard),
        new_numbers=pick("new_numbers", FolderSettings.new_numbers),
        # Beside failed/ by default, so an admin finds held documents where failed ones are.
        hold_dir=pick("hold_dir", failed_dir.parent / "hold"),
        notify=pick("notify", ()),
        delayed_after=pick("delayed_after", None),
        station_name=pick("station_name", None),
        report_pdf=pick("report_pdf", FolderSettings.report_pdf),
    )


def build_inbox(
    node: Node,
    provider_types: Mapping[str, str | None],
    default_provider: str | None,
    region: str,
    ctx: Context,
) -> InboxSettings | None:
    problems = ctx.problems
    entries = v.mapping(node, INBOX_KEYS, problems)
    if node.kind != "map":
        return None
    provider = _inbox_provider(node, entries, provider_types, default_provider, ctx)
    inbox_path = None
    if "path" in entries:
        inbox_path = v.path(entries["path"], ctx.base, ctx.environ, problems)
    else:
        problems.add(node, "missing 'path': the folder received documents go to.")
    poll_interval = lookback = None
    if "poll_interval" in entries:
        poll_interval = v.duration(entries["poll_interval"], problems, positive=True)
    if "lookback" in entries:
        lookback = v.duration(entries["lookback"], problems)
    download_timeout = None
    if "download_timeout" in entries:
        download_timeout = v.duration(entries["download_timeout"], problems, positive=True)
    delete = None
    if "delete_after_download" in entries:
        delete = v.boolean(entries["delete_after_download"], problems)
    rules: dict[str, RouteRule] = {}
    routes = _routes(entries.get("routes"), region, ctx, rules)
    deliver: tuple[str, ...] | None = ()
    if "deliver" in entries:
        deliver = targets(entries["deliver"], ctx.channel_types, problems, owner_allowed=False)
    attach: DeliveryAttach = "document"
    if "attach" in entries:
        attach = v.choice(entries["attach"], ("document", "none"), problems) or attach
    numbers: tuple[str, ...] = ()
    if "numbers" in entries:
        numbers_node = entries["numbers"]
        items = numbers_node.value if numbers_node.kind == "seq" else [numbers_node]
        parsed = (v.number(item, region, problems) for item in items)
        numbers = tuple(n for n in parsed if n is not None)
    if provider is None or inbox_path is None:
        return None
    return InboxSettings(
        provider=provider,
        path=inbox_path,
        poll_interval=poll_interval if poll_interval is not None else InboxSettings.poll_interval,
        lookback=lookback if lookback is not None else InboxSettings.lookback,
        routes=routes,
        numbers=numbers,
        delete_after_download=bool(delete),
        download_timeout=download_timeout or InboxSettings.download_timeout,
        deliver=deliver or (),
        route_rules=rules,
        attach=attach,
    )


def _inbox_provider(
    node: Node,
    entries: Mapping[str, Node],
    provider_types: Mapping[str, str | None],
    default_provider: str | None,
    ctx: Context,
) -> str | None:
    receiving = types_that_can("inbox")  # the provider table's inbox capability
    names = " or ".join(receiving)
    docs = sorted(name for name, kind in provider_types.items() if kind in receiving)
    if "provider" in entries:
        name = provider_name(entries["provider"], ctx)
        where: Node = entries["provider"]
    elif default_provider is not None and provider_types.get(default_provider) in receiving:
        return default_provider
    elif len(docs) == 1:
        return docs[0]
    else:
        ctx.problems.add(node, f"missing 'provider': name the {names} provider to poll.")
        return None
    if name is None:
        return None
    if provider_types.get(name) not in receiving:
        ctx.problems.add(
            where,
            f"provider '{name}' is {provider_types.get(name)}, which has no inbound API; "
            f"the inbox needs a {names} provider.",
        )
        return None
    return name


def _routes(
    node: Node | None, region: str, ctx: Context, rules: dict[str, RouteRule]
) -> dict[str, Path]:
    if node is None:
        return {}
    if node.kind != "map":
        ctx.problems.add(node, f"must map our numbers to folders, not {v.describe(node)}.")
        return {}
    routes: dict[str, Path] = {}
    for written, child in node.value.items():
        try:
            e164 = v.parse_number(written, region)
        except ValueError as exc:
            ctx.problems.add(child, str(exc))
            continue
        if e164 in routes:
            ctx.problems.add(child, f"{e164} is routed twice; keep one route per number.")
            continue
        if child.kind == "map":
            rule = _route_rule(child, ctx)
            if rule is not None:
                routes[e164] = rule.path
                rules[e164] = rule
            continue
        target = v.path(child, ctx.base, ctx.environ, ctx.problems)
        if target is not None:
            routes[e164] = target
    return routes


def _route_rule(node: Node, ctx: Context) -> RouteRule | None:
    """A route written as a mapping: `path`, optional `from` (a sender prefix), `deliver`."""
    problems = ctx.problems
    entries = v.mapping(node, ("path", "from", "deliver", "attach"), problems)
    if "path" not in entries:
        problems.add(node, "missing 'path': the folder this number's documents go to.")
        return None
    folder = v.path(entries["path"], ctx.base, ctx.environ, problems)
    prefix = None
    if "from" in entries:
        prefix = v.text(entries["from"], problems)
        if prefix is not None and not re.fullmatch(r"\+?[0-9]+", prefix):
            problems.add(entries["from"], f"'{prefix}' is not the start of a number like +4640.")
            prefix = None
    deliver: tuple[str, ...] | None = ()
    if "deliver" in entries:
        deliver = targets(entries["deliver"], ctx.channel_types, problems, owner_allowed=False)
    attach: DeliveryAttach = "document"
    if "attach" in entries:
        attach = v.choice(entries["attach"], ("document", "none"), problems) or attach
    if folder is None or deliver is None:
        return None
    return RouteRule(path=folder, sender_prefix=prefix, deliver=deliver, attach=attach)
