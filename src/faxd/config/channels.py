"""The `channels:`, `alerts:` and `templates:` sections, and the target lists that name
channels (`notify`, `inbox.deliver`, routes' `deliver`, `alerts.to`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2 import meta

from faxd.channels.command import argv_problem
from faxd.config import values as v
from faxd.config.host_names import host_problem
from faxd.config.yaml_tree import Node, Problems
from faxd.core.targets import TargetError, check_address, check_target, split_target
from faxd.host.setting_files import read_setting_file
from faxd.settings import (
    ALERT_EVENTS,
    FINAL_NOTICE_EVENTS,
    NOTIFY_EVENTS,
    AlertSettings,
    ChannelSettings,
    CommandChannel,
    NoticeAttach,
    NotifyRule,
    PrintChannel,
    Secret,
    SmtpChannel,
    SmtpSecurity,
    WebhookChannel,
)

CHANNEL_TYPES = ("smtp", "print", "webhook", "command")
_COMMON = ("type", "give_up_after", "retry_max")
CHANNEL_KEYS: dict[str, tuple[str, ...]] = {
    "smtp": (
        *_COMMON,
        "host",
        "port",
        "security",
        "username",
        "password_file",
        "password_env",
        "from",
        "ca_bundle",
        "timeout",
    ),
    "print": (*_COMMON, "queue", "timeout"),
    "webhook": (*_COMMON, "url", "secret_file", "secret_env", "ca_bundle", "timeout"),
    "command": (*_COMMON, "argv", "timeout"),
}
ALERT_KEYS = ("to", "on", "inbox_stalled_after", "disk_free_min")
NOTIFY_KEYS = ("on", "to", "attach")
TEMPLATE_NAMES = tuple(
    f"{kind}.{part}"
    for kind in ("notice", "delivery", "alert", "test")
    for part in ("subject", "txt")
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_REFUSED = {
    "password": "a password must not be written into the configuration; put it in a file and "
    "set password_file, or set password_env to an environment variable's name.",
    "secret": "a secret must not be written into the configuration; put it in a file and set "
    "secret_file, or set secret_env to an environment variable's name.",
}


def channel_types(node: Node | None) -> dict[str, str]:
    """Channel name -> type as written, also for channels that failed to parse, so a target
    naming a broken channel is not reported a second time as unknown."""
    if node is None or node.kind != "map":
        return {}
    found: dict[str, str] = {}
    for name, entry in node.value.items():
        type_node = entry.value.get("type") if entry.kind == "map" else None
        found[name] = (type_node.text or "").strip().lower() if type_node is not None else ""
    return found


def parse_channels(
    node: Node | None, base: Path, environ: Mapping[str, str], problems: Problems
) -> dict[str, ChannelSettings]:
    if node is None or node.is_null:
        return {}
    if node.kind != "map":
        problems.add(node, f"must be a mapping of channel names, not {v.describe(node)}.")
        return {}
    channels: dict[str, ChannelSettings] = {}
    for name, entry in node.value.items():
        if not _NAME.match(name):
            problems.add(
                entry, f"channel name '{name}' may hold only letters, digits, '.', '_', '-'."
            )
            continue
        parsed = _channel(name, entry, base, environ, problems)
        if parsed is not None:
            channels[name] = parsed
    return channels


def _channel(
    name: str, node: Node, base: Path, environ: Mapping[str, str], problems: Problems
) -> ChannelSettings | None:
    kind = v.type_key(node, CHANNEL_TYPES, problems)
    if kind is None:
        return None
    e = v.mapping(node, CHANNEL_KEYS[kind], problems, _REFUSED)
    common: dict[str, Any] = {}
    for key in ("give_up_after", "retry_max", "timeout"):
        if key in e:
            found = v.duration(e[key], problems, positive=True)
            if found is not None:
                common[key] = found
    if kind == "smtp":
        return _smtp(name, node, e, common, base, environ, problems)
    if kind == "print":
        queue = _required(node, e, "queue", problems, "the CUPS queue to print on")
        if queue is not None and not re.match(r"^[^\s/#]+$", queue):
            problems.add(e["queue"], f"'{queue}' is not a CUPS queue name (no spaces, '/' or '#').")
            return None
        return PrintChannel(name=name, queue=queue, **common) if queue else None
    if kind == "webhook":
        url = v.url(e["url"], problems) if "url" in e else None
        if "url" not in e:
            problems.add(node, "missing 'url': where faxd posts the events.")
        secret: Secret | None = None
        secret_file: Path | None = None
        if "secret_file" in e or "secret_env" in e:
            # An HMAC key, never sent itself: any text will do.
            secret, secret_file, _ = v.secret(
                e, node, "secret", base, environ, problems, header=False
            )
            if secret is None:
                return None
        ca = v.path(e["ca_bundle"], base, environ, problems) if "ca_bundle" in e else None
        if not url:
            return None
        return WebhookChannel(
            name=name, url=url, secret=secret, ca_bundle=ca, secret_file=secret_file, **common
        )
    argv = _argv(node, e.get("argv"), problems)
    return CommandChannel(name=name, argv=argv, **common) if argv else None


def _smtp(
    name: str,
    node: Node,
    e: dict[str, Node],
    common: dict[str, Any],
    base: Path,
    environ: Mapping[str, str],
    problems: Problems,
) -> SmtpChannel | None:
    host = _required(node, e, "host", problems, "the SMTP server's name")
    if host is not None and (wrong := host_problem(host)) is not None:
        problems.add(
            e["host"],
            f"'{v.shorten(host)}' is not a mail server's name or address: it {wrong}; write "
            "the name alone, like mail.example.com (the port goes under port:).",
        )
        host = None
    sender = _required(
        node, e, "from", problems, 'the From address, e.g. "Office fax <fax@example.com>"'
    )
    security: SmtpSecurity = "starttls"
    if "security" in e:
        security = v.choice(e["security"], ("starttls", "tls", "none"), problems) or security
    port = _PORTS[security]
    if "port" in e:
        port = v.integer(e["port"], problems, minimum=1, maximum=65535) or port
    if host is not None and security == "none" and host.lower() not in _LOOPBACK:
        problems.add(
            e.get("security", node),
            f"security: none sends the mail (and any password) unencrypted; it is allowed only "
            f"to a server on this machine (127.0.0.1, localhost, ::1), not {host}.",
        )
        return None
    if sender is not None:
        from email.utils import parseaddr

        if any(c in sender for c in "\r\n"):
            problems.add(e["from"], "must not contain a line break.")
            return None
        try:
            check_address(parseaddr(sender)[1])
        except TargetError as exc:
            problems.add(e["from"], f"{exc}.")
            return None
    username = v.text(e["username"], problems) if "username" in e else None
    password: Secret | None = None
    password_file: Path | None = None
    if "password_file" in e or "password_env" in e or username is not None:
        password, password_file, _ = v.secret(e, node, "password", base, environ, problems)
        if password is None:
            return None
        if username is None:
            problems.add(node, "a password is set but no username; add 'username'.")
            return None
    ca = v.path(e["ca_bundle"], base, environ, problems) if "ca_bundle" in e else None
    if host is None or sender is None:
        return None
    return SmtpChannel(
        name=name,
        host=host,
        sender=sender,
        port=port,
        security=security,
        username=username,
        password=password,
        ca_bundle=ca,
        password_file=password_file,
        **common,
    )


def _required(
    node: Node, e: dict[str, Node], key: str, problems: Problems, what: str
) -> str | None:
    if key not in e:
        problems.add(node, f"missing '{key}': {what}.")
        return None
    return v.text(e[key], problems)


def _argv(node: Node, argv_node: Node | None, problems: Problems) -> tuple[str, ...] | None:
    if argv_node is None:
        problems.add(node, "missing 'argv': the program and its arguments, as a list.")
        return None
    if argv_node.kind != "seq" or not argv_node.value:
        problems.add(argv_node, "must be a list: [program, argument, …] (run without a shell).")
        return None
    items = [v.text(item, problems) for item in argv_node.value]
    if any(item is None for item in items):
        return None
    program = items[0] or ""
    if not program.startswith("/"):
        problems.add(argv_node.value[0], f"'{program}' must be an absolute path to the program.")
        return None
    # Filled in per message (channels/command.py): a stray brace or a name no message has
    # is refused now, not found out by every notice failing at send time.
    valid = True
    for item_node, item in zip(argv_node.value, items, strict=True):
        problem = argv_problem(item or "")
        if problem is not None:
            problems.add(item_node, f"{problem}.")
            valid = False
    return tuple(item or "" for item in items) if valid else None


def targets(
    node: Node, types: Mapping[str, str], problems: Problems, *, owner_allowed: bool
) -> tuple[str, ...] | None:
    """A target or a list of targets, each checked against the configured channels."""
    items = node.value if node.kind == "seq" else [node]
    found: list[str] = []
    valid = True
    for item in items:
        written = v.text(item, problems)
        if written is None:
            valid = False
            continue
        try:
            check_target(written, types, owner_allowed=owner_allowed)
        except TargetError as exc:
            problems.add(item, f"{exc}.")
            valid = False
            continue
        found.append(written)
    return tuple(found) if valid else None


def _print_targets(to: Sequence[str], types: Mapping[str, str]) -> list[str]:
    return [t for t in to if types.get(split_target(t)[0]) == "print"]


def _nothing_to_print(printers: Sequence[str], on: Sequence[str], attach: str) -> str | None:
    """Why a notify rule's print channel would never print (every such notice would fail)."""
    if not printers:
        return None
    names = ", ".join(f"'{p}'" for p in printers)
    if attach == "none":
        return (
            f"{names} is a print channel, which prints the report or the document; with"
            " attach: none there is nothing to print. Set attach: report or document."
        )
    unfinished = [event for event in on if event not in FINAL_NOTICE_EVENTS]
    if unfinished:
        return (
            f"{names} is a print channel, which prints a finished job's report or document;"
            f" {', '.join(unfinished)} come before there is one. Send those events to another"
            " channel in a rule of their own."
        )
    return None


def _events(node: Node, allowed: tuple[str, ...], problems: Problems) -> tuple[str, ...] | None:
    items = node.value if node.kind == "seq" else [node]
    found = [v.choice(item, allowed, problems) for item in items]
    return tuple(f for f in found if f) if all(found) else None


def notify_rules(
    node: Node, types: Mapping[str, str], problems: Problems
) -> tuple[NotifyRule, ...] | None:
    """`notify:` — a list of {on, to, attach} (a single mapping is one rule)."""
    items = node.value if node.kind == "seq" else [node]
    rules: list[NotifyRule] = []
    valid = True
    for item in items:
        e = v.mapping(item, NOTIFY_KEYS, problems)
        if item.kind != "map":
            valid = False
            continue
        if "to" not in e:
            problems.add(
                item, "missing 'to': the targets to notify, e.g. [\"mail:{owner}@example.com\"]."
            )
            valid = False
            continue
        to = targets(e["to"], types, problems, owner_allowed=True)
        on = _events(e["on"], NOTIFY_EVENTS, problems) if "on" in e else ("failed",)
        attach: NoticeAttach | None = (
            v.choice(e["attach"], ("report", "document", "none"), problems)
            if "attach" in e
            else "report"
        )
        if to is None or on is None or attach is None:
            valid = False
            continue
        nothing = _nothing_to_print(_print_targets(to, types), on, attach)
        if nothing is not None:
            problems.add(e["to"], nothing)
            valid = False
            continue
        rules.append(NotifyRule(on=on, to=to, attach=attach))
    return tuple(rules) if valid else None


def parse_alerts(
    node: Node | None, types: Mapping[str, str], problems: Problems
) -> AlertSettings | None:
    if node is None or node.is_null:
        return None
    e = v.mapping(node, ALERT_KEYS, problems)
    if node.kind != "map":
        return None
    if "to" not in e:
        problems.add(
            node, "missing 'to': the administrator's targets, e.g. [\"mail:it@example.com\"]."
        )
        return None
    to = targets(e["to"], types, problems, owner_allowed=False)
    for printer in _print_targets(to or (), types):
        problems.add(
            e["to"],
            f"'{printer}' is a print channel, which prints a job's report or document; an"
            " alert has neither. Send alerts by mail, webhook or command.",
        )
        to = None
    on = _events(e["on"], ALERT_EVENTS, problems) if "on" in e else ALERT_EVENTS
    stalled = (
        v.duration(e["inbox_stalled_after"], problems, positive=True)
        if "inbox_stalled_after" in e
        else 3600.0
    )
    disk = (
        _size(e["disk_free_min"], problems) if "disk_free_min" in e else AlertSettings.disk_free_min
    )
    if to is None or on is None or stalled is None or disk is None:
        return None
    return AlertSettings(to=to, on=on, inbox_stalled_after=stalled, disk_free_min=disk)


def _size(node: Node, problems: Problems) -> int | None:
    found = _SIZE.match(node.text or "")
    if not found:
        problems.add(node, f"{v.describe(node)} is not a size like 500MB or 2GB.")
        return None
    return int(float(found.group(1)) * _SIZE_UNITS[found.group(2).upper()])


def parse_templates(
    node: Node | None, base: Path, environ: Mapping[str, str], problems: Problems
) -> Path | None:
    """The admin's template folder; each template in it must parse (with its line)."""
    if node is None or node.is_null:
        return None
    folder = v.path(node, base, environ, problems)
    if folder is None:
        return None
    try:
        # Path.is_dir() raises on EACCES: faxd's user, kept out of a folder on the way,
        # ended its start in an internal error.
        entries = sorted(folder.iterdir()) if folder.is_dir() else None
    except OSError as exc:
        problems.add(
            node, f"{folder} cannot be read ({exc.strerror}); let faxd's user read and enter it."
        )
        return None
    if entries is None:
        problems.add(node, f"{folder} is not a folder; create it or remove the key.")
        return None
    env = jinja2.sandbox.SandboxedEnvironment(autoescape=False)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.name not in TEMPLATE_NAMES:
            problems.add(
                node,
                f"{entry.name} in {folder} is not a template faxd uses "
                f"({', '.join(TEMPLATE_NAMES)}); rename or remove it.",
            )
            continue
        try:
            text = read_setting_file(entry).decode("utf-8")
            unknown = sorted(meta.find_undeclared_variables(env.parse(text)) - _KNOWN_NAMES)
            if unknown:
                problems.add(
                    node,
                    f"{entry} uses {{{{ {unknown[0]} }}}}, which faxd does not fill (it would"
                    f" always be empty); it fills: {', '.join(sorted(_SAMPLE))}.",
                )
                continue
            env.from_string(text).render(**_SAMPLE)
        except jinja2.TemplateSyntaxError as exc:
            said = (exc.message or "syntax error").rstrip(".")
            problems.add(node, f"{entry}, line {exc.lineno}: {said}.")
        except OSError as exc:
            problems.add(node, f"{entry} cannot be read ({exc.strerror}); let faxd's user read it.")
        except UnicodeDecodeError as exc:
            problems.add(node, f"{entry} cannot be read ({exc}).")
        except Exception as exc:  # renders with sample values: what would fail at send time
            problems.add(node, f"{entry} does not render: {exc.__class__.__name__}: {exc}.")
    return folder


# Every name the built-in templates use, with a plausible value: an admin's template is
# rendered with these at check-config, so a mistake shows now and not in the first notice.
_SAMPLE: dict[str, Any] = {
    "event": "failed",
    "document": "invoice.pdf",
    "job_id": "20260101120000-abcdef01",
    "reference": "order 4711",
    "numbers": ["+46812345678"],
    "recipients": [
        {"number": "+46812345678", "result": "failed", "error": "busy", "status": "BUSY"}
    ],
    "reason": "busy",
    "advice": "Send it again later.",
    "filed": "/srv/fax/failed/invoice.pdf",
    "folder": "/srv/fax/out",
    "owner": "anna",
    "waited": "35 min",
    "result": "failed",
    "attached": ["invoice.pdf.report.pdf"],
    "number": "+4612345679",
    "sender": "+4640123456",
    "pages": 2,
    "path": "/srv/fax/inbox/support/fax.pdf",
    "title": "a notice could not be delivered",
    "text": "faxd gave up on a notice.",
    "host": "faxserver",
    "channel": "mail",
}
_KNOWN_NAMES = frozenset(_SAMPLE) | frozenset(jinja2.sandbox.SandboxedEnvironment().globals)
