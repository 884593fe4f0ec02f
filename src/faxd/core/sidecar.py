"""Sidecar files (`NAME.yaml` or `NAME.yml` beside document `NAME`): parsed and checked.

Unknown keys and wrong types are errors, never ignored, and every problem is reported
at once. Plain YAML scalars are read as text, not numbers: an unquoted `+46812345678`
would otherwise become the integer 46812345678 and lose its '+', and `0812345678`
would lose its leading zero."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from faxd.errors import AddressError
from faxd.settings import RETARUS_OPTION_KEYS, RetarusOptions

MAX_RECIPIENTS = 10
MAX_ATTACHMENTS = 4  # 5 files in all with the document
MAX_REFERENCE = 256  # Retarus: customerDefinedId
MAX_SIDECAR_SIZE = 64 * 1024  # characters; callers need not read more than this plus one

SIDECAR_KEYS = (
    "to",
    "from",
    "dft",
    "attach",
    "reference",
    "provider",
    "retarus",
    "notify",
    "owner",
)
MAX_NOTIFY = 10
RETARUS_KEYS = RETARUS_OPTION_KEYS
_SUFFIXES = (".yaml", ".yml")
_EXAMPLE = 'to: "+46 8 123 456 78"'


@dataclass(frozen=True)
class Sidecar:
    to: tuple[str, ...]  # as written (numbers or contact names); 1..10
    sender: str | None  # the `from` key, as written
    dft: bool | None
    attach: tuple[str, ...]  # file names in the same folder; at most 4
    reference: str | None
    provider: str | None
    retarus: RetarusOptions | None
    source: str = ""  # the sidecar's own file name, for messages and reports
    notify: tuple[str, ...] = ()  # extra targets told of `failed` and `delivered`
    owner: str | None = None  # who handed it in (the CUPS backend writes the job's user)


class SidecarError(AddressError):
    """A sidecar that cannot be used; `problems` holds every reason, one sentence each."""

    def __init__(self, source: str, problems: list[str], hint: str | None = None) -> None:
        super().__init__(f"{source}: {'; '.join(problems)}.", hint)
        self.source = source
        self.problems = tuple(problems)


_TEXT_TAGS = frozenset(
    {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}
)


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice; PyYAML would silently keep the last one."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(f"key '{key}' appears twice (line {line})")
        self.key = key
        self.line = line


class _TextScalarLoader(yaml.SafeLoader):
    """SafeLoader that keeps numbers and dates as text and refuses duplicate keys."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class attribute
        first: [(tag, rx) for tag, rx in resolvers if tag not in _TEXT_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                continue  # PyYAML itself refuses unhashable keys
            if key in seen:
                raise DuplicateKeyError(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def sidecar_names(document_name: str) -> tuple[str, str]:
    """The two names a sidecar of `document_name` may have, preferred first."""
    return (f"{document_name}.yaml", f"{document_name}.yml")


def document_of(sidecar_name: str) -> str | None:
    """The document a sidecar belongs to ("a.pdf.yaml" -> "a.pdf"); None if not a sidecar."""
    for suffix in _SUFFIXES:
        if sidecar_name.endswith(suffix) and len(sidecar_name) > len(suffix):
            return sidecar_name[: -len(suffix)]
    return None


def load_text_yaml(text: str) -> Any:
    """YAML with numbers and dates kept as text; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_TextScalarLoader)  # noqa: S506 - a SafeLoader subclass


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, DuplicateKeyError):
        return str(exc)
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
        return f"the sidecar is not valid YAML (line {line}, column {column}: {problem})"
    return f"the sidecar is not valid YAML ({problem})"


def _split_entries(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def _parse_to(value: object, problems: list[str]) -> tuple[str, ...]:
    if value is None or value == "" or value == []:
        problems.append(f"'to' is empty: give a number or a list of up to {MAX_RECIPIENTS}")
        return ()
    items: list[object] = value if isinstance(value, list) else [value]
    entries: list[str] = []
    bad_items = False
    for item in items:
        if isinstance(item, str):
            entries.extend(_split_entries(item))
        else:
            bad_items = True
            problems.append(f"'to' holds {_describe(item)}, not a number or a contact name")
    if not entries and not bad_items:
        problems.append(f"'to' is empty: give a number or a list of up to {MAX_RECIPIENTS}")
    if len(entries) > MAX_RECIPIENTS:
        problems.append(f"'to' lists {len(entries)} recipients, at most {MAX_RECIPIENTS} allowed")
    return tuple(entries)


def _parse_text(key: str, value: object, problems: list[str], limit: int = 0) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"'{key}' must be text, not {_describe(value)}")
        return None
    if limit and len(value) > limit:
        problems.append(f"'{key}' is {len(value)} characters long, at most {limit} allowed")
        return None
    return value.strip()


def _parse_bool(key: str, value: object, problems: list[str]) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    problems.append(f"'{key}' must be true or false, not {_describe(value)}")
    return None


def _attach_problem(name: str, document: str | None) -> str | None:
    if not name.strip():
        return "'attach' holds an empty name"
    if "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        return (
            f"'attach' entry '{name}' is not a plain file name "
            "(attachments must sit in the same folder as the document)"
        )
    if document is not None and name == document:
        return f"'attach' names the document '{name}' itself"
    return None


def _parse_attach(value: object, document: str | None, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    items: list[object] = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            problems.append(f"'attach' holds {_describe(item)}, not a file name")
            continue
        problem = _attach_problem(item, document)
        if problem:
            problems.append(problem)
        elif item in names:
            problems.append(f"'attach' lists '{item}' twice")
        else:
            names.append(item)
    if len(items) > MAX_ATTACHMENTS:
        problems.append(
            f"'attach' lists {len(items)} files, at most {MAX_ATTACHMENTS} allowed "
            "(5 files in all with the document)"
        )
    return tuple(names)


def _unknown_key(key: object, known: tuple[str, ...], where: str = "") -> str:
    text = str(key)
    close = difflib.get_close_matches(text, known, n=1)
    guess = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{where}{text}'{guess}"


def _parse_choice(
    key: str, value: object, choices: tuple[str, ...], problems: list[str]
) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().upper() in choices:
        return value.strip().upper()
    problems.append(f"'{key}' must be one of {', '.join(choices)}, not {_describe(value)}")
    return None


def parse_retarus_options(value: object, where: str, problems: list[str]) -> RetarusOptions:
    """A `retarus:` mapping (sidecar or config) as RetarusOptions; problems are appended.

    `where` prefixes key names in messages, e.g. "retarus." or "folders[1].retarus."."""
    if not isinstance(value, Mapping):
        problems.append(f"'{where.rstrip('.')}' must be a mapping, not {_describe(value)}")
        return RetarusOptions()
    for key in value:
        if key not in RETARUS_KEYS:
            problems.append(_unknown_key(key, RETARUS_KEYS, where))
    props_raw = value.get("recipient_properties")
    props: dict[str, str] = {}
    if props_raw is not None:
        if isinstance(props_raw, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in props_raw.items()
        ):
            props = dict(props_raw)
        else:
            problems.append(
                f"'{where}recipient_properties' must map names to text "
                f"(e.g. ToName: Acme AB), not {_describe(props_raw)}"
            )
    resolution = _parse_choice(
        f"{where}resolution", value.get("resolution"), ("HIGH", "LOW"), problems
    )
    paper = _parse_choice(
        f"{where}paper_format", value.get("paper_format"), ("A4", "LETTER"), problems
    )
    return RetarusOptions(
        coverpage_template=_parse_text(
            f"{where}coverpage_template", value.get("coverpage_template"), problems
        ),
        recipient_properties=props,
        resolution="HIGH" if resolution == "HIGH" else "LOW" if resolution else None,
        paper_format="A4" if paper == "A4" else "LETTER" if paper else None,
        express=_parse_bool(f"{where}express", value.get("express"), problems),
        blacklist=_parse_bool(f"{where}blacklist", value.get("blacklist"), problems),
        header=_parse_text(f"{where}header", value.get("header"), problems),
    )


def effective_retarus(base: RetarusOptions, override: RetarusOptions | None) -> RetarusOptions:
    """A folder's Retarus options with a sidecar's explicitly set values on top."""
    if override is None:
        return base
    return replace(
        base,
        coverpage_template=override.coverpage_template or base.coverpage_template,
        recipient_properties={**base.recipient_properties, **override.recipient_properties},
        resolution=override.resolution or base.resolution,
        paper_format=override.paper_format or base.paper_format,
        express=base.express if override.express is None else override.express,
        blacklist=base.blacklist if override.blacklist is None else override.blacklist,
        header=override.header or base.header,
    )


def _parse_notify(value: object, problems: list[str]) -> tuple[str, ...]:
    """`notify:` — a target (`mail:anna@example.com`) or a list of them; whether each names
    a configured channel is checked where the channels are known."""
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            problems.append(
                f"'notify' must be a target like mail:anna@example.com, not {_describe(item)}"
            )
            continue
        if any(c in item for c in "\r\n\x00"):
            problems.append("'notify' must not contain a line break")
            continue
        found.append(item.strip())
    if len(found) > MAX_NOTIFY:
        problems.append(f"'notify' names {len(found)} targets; at most {MAX_NOTIFY} allowed")
    return tuple(found)


def parse_sidecar(text: str, source: str) -> Sidecar:
    """Parse the sidecar text read from the file named `source` ("invoice.pdf.yaml").

    Raises SidecarError (an AddressError) naming every problem at once."""
    hint = (
        f"Fix {source} (for example {_EXAMPLE}; keys: {', '.join(SIDECAR_KEYS)}) and move "
        "it back into the spool folder together with its document."
    )
    if len(text) > MAX_SIDECAR_SIZE:
        problem = f"the sidecar is {len(text)} characters long; at most {MAX_SIDECAR_SIZE} allowed"
        raise SidecarError(source, [problem], hint)
    try:
        data = load_text_yaml(text)
    except yaml.YAMLError as exc:
        raise SidecarError(source, [_yaml_problem(exc)], hint) from None
    except RecursionError:
        raise SidecarError(source, ["the sidecar is nested too deeply"], hint) from None
    if data is None:
        raise SidecarError(
            source, [f"the sidecar is empty; it needs at least a 'to' key ({_EXAMPLE})"], hint
        )
    if not isinstance(data, Mapping):
        raise SidecarError(
            source,
            [f"the sidecar must be a mapping of keys ({_EXAMPLE}), not {_describe(data)}"],
            hint,
        )
    problems: list[str] = [
        _unknown_key(key, SIDECAR_KEYS) for key in data if key not in SIDECAR_KEYS
    ]
    if "to" not in data:
        problems.append(f"'to' is missing: a sidecar must name its recipients ({_EXAMPLE})")
        to: tuple[str, ...] = ()
    else:
        to = _parse_to(data["to"], problems)
    retarus = (
        parse_retarus_options(data["retarus"], "retarus.", problems)
        if data.get("retarus") is not None
        else None
    )
    sidecar = Sidecar(
        to=to,
        sender=_parse_text("from", data.get("from"), problems),
        dft=_parse_bool("dft", data.get("dft"), problems),
        attach=_parse_attach(data.get("attach"), document_of(source), problems),
        reference=_parse_text("reference", data.get("reference"), problems, MAX_REFERENCE),
        provider=_parse_text("provider", data.get("provider"), problems),
        retarus=retarus,
        source=source,
        notify=_parse_notify(data.get("notify"), problems),
        owner=_parse_text("owner", data.get("owner"), problems, 64),
    )
    if problems:
        raise SidecarError(source, problems, hint)
    return sidecar


def parse_sidecar_bytes(data: bytes, source: str) -> Sidecar:
    """parse_sidecar for the raw file: UTF-8 (with or without BOM), else Windows-1252,
    which is what Notepad and older office software write."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return parse_sidecar(text, source)
