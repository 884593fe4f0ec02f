"""Sidecar files (`NAME.yaml` or `NAME.yml` beside document `NAME`): parsed and checked
with the configuration file's machinery, so a problem names its key and line the same way.

Unknown keys, repeated keys and wrong types are errors, never ignored, and every problem
is reported at once. Values are read as written: an unquoted `+46812345678` keeps its
'+', `0812345678` its leading zero and `NO` stays text."""

from __future__ import annotations

import codecs

from faxd.config import values as v
from faxd.config.retarus import retarus_options
from faxd.config.yaml_tree import FILE, Node, Problems, parse_tree
from faxd.core.addressing import looks_like_number, split_recipients
from faxd.core.sidecar import MAX_RECIPIENTS, Sidecar, document_of
from faxd.errors import AddressError, ConfigProblem

MAX_ATTACHMENTS = 4  # 5 files in all with the document
MAX_REFERENCE = 256  # Retarus: customerDefinedId
MAX_OWNER = 64
MAX_NOTIFY = 10
MAX_SIDECAR_SIZE = 64 * 1024  # characters; callers need not read more than this plus one
MAX_SHOWN_PROBLEMS = 10  # a report stays readable when every line of a sidecar is wrong

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
_EXAMPLE = 'to: "+46 8 123 456 78"'


class SidecarError(AddressError):
    """A sidecar that cannot be used; `problems` holds every reason, one sentence each."""

    def __init__(
        self,
        source: str,
        problems: list[str],
        hint: str | None = None,
        attach: tuple[str, ...] = (),
    ) -> None:
        shown = problems[:MAX_SHOWN_PROBLEMS]
        if len(problems) > len(shown):
            shown = [*shown, f"and {len(problems) - len(shown)} more problems"]
        text = "; ".join(shown)
        super().__init__(f"{source}: {text}{'' if text.endswith('?') else '.'}", hint)
        self.source = source
        self.problems = tuple(problems)
        # The plain file names its `attach:` held, problems or not: they belong to the
        # failed document and go to failed/ with it, never out on their own.
        self.attach = attach


def _sentence(problem: ConfigProblem) -> str:
    """'line 3, retarus.resolution: ...', the way `faxd check-config` names a place."""
    where = [f"line {problem.line}"] if problem.line else []
    if problem.path and problem.path != FILE:
        where.append(problem.path)
    message = problem.message.rstrip(".")
    return f"{', '.join(where)}: {message}" if where else message


def _scalar(node: Node) -> str | None:
    """A scalar exactly as written (not stripped), or None for a list, mapping or null."""
    if node.kind != "scalar" or node.is_null or node.text is None:
        return None
    return node.text


def _what(node: Node) -> str:
    return "nothing" if node.is_null else v.describe(node)


def _items(node: Node) -> list[Node]:
    return list(node.value) if node.kind == "seq" else [node]


def _to(node: Node | None, problems: Problems) -> tuple[str, ...]:
    if node is None:
        problems.add("", f"'to' is missing: a sidecar must name its recipients ({_EXAMPLE}).")
        return ()
    empty = f"is empty: give a number or a list of up to {MAX_RECIPIENTS}."
    entries: list[str] = []
    counted = 0
    bad_items = False
    for item in [] if node.is_null else _items(node):
        written = _scalar(item)
        if written is None:
            bad_items = True
            problems.add(item, f"holds {_what(item)}, not a number or a contact name.")
            continue
        parts = split_recipients(written)
        if parts:
            # Kept as written: "Smith, John" may be one contact, which only the contacts
            # can tell (core.addressing). Numbers alone are counted here, with their line.
            entries.append(written.strip())
            counted += len(parts) if all(map(looks_like_number, parts)) else 1
    if not entries and not bad_items:
        problems.add(node, empty)
    if counted > MAX_RECIPIENTS:
        problems.add(node, f"lists {counted} recipients, at most {MAX_RECIPIENTS} allowed.")
    return tuple(entries)


def _text(node: Node | None, problems: Problems, limit: int = 0) -> str | None:
    if node is None:
        return None
    value = v.text(node, problems)
    if value is not None and limit and len(value) > limit:
        problems.add(node, f"is {len(value)} characters long, at most {limit} allowed.")
        return None
    return value


def _attach_problem(name: str, document: str | None) -> str | None:
    if not name.strip():
        return "is an empty name."
    if "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        return (
            f"'{v.shorten(name)}' is not a plain file name "
            "(attachments must sit in the same folder as the document)."
        )
    if document is not None and name == document:
        return f"names the document '{name}' itself."
    return None


def _attach(node: Node | None, document: str | None, problems: Problems) -> tuple[str, ...]:
    if node is None:
        return ()
    items = _items(node)
    names: list[str] = []
    for item in items:
        name = _scalar(item)
        if name is None:
            problems.add(item, f"holds {_what(item)}, not a file name.")
            continue
        problem = _attach_problem(name, document)
        if problem:
            problems.add(item, problem)
        elif name in names:
            problems.add(item, f"lists '{v.shorten(name)}' twice.")
        else:
            names.append(name)
    if len(items) > MAX_ATTACHMENTS:
        problems.add(
            node,
            f"lists {len(items)} files, at most {MAX_ATTACHMENTS} allowed "
            "(5 files in all with the document).",
        )
    return tuple(names)


def _notify(node: Node | None, problems: Problems) -> tuple[str, ...]:
    """`notify:` — a target (`mail:anna@example.com`) or a list of them; whether each names
    a configured channel is checked where the channels are known."""
    if node is None:
        return ()
    found: list[str] = []
    for item in _items(node):
        written = _scalar(item)
        if written is None or not written.strip():
            problems.add(item, f"must be a target like mail:anna@example.com, not {_what(item)}.")
        elif any(c in written for c in "\r\n\x00"):
            problems.add(item, "must not contain a line break.")
        else:
            found.append(written.strip())
    if len(found) > MAX_NOTIFY:
        problems.add(node, f"names {len(found)} targets; at most {MAX_NOTIFY} allowed.")
    return tuple(found)


def _read(text: str, source: str, problems: Problems) -> Sidecar | None:
    empty = f"the sidecar is empty; it needs at least a 'to' key ({_EXAMPLE})."
    root = parse_tree(text, problems, empty=empty)
    if root is None:
        return None
    if root.is_null:
        problems.add(FILE, empty)
        return None
    if root.kind != "map":
        problems.add(
            FILE,
            f"the sidecar must be a mapping of keys ({_EXAMPLE}), not {v.describe(root)}.",
            root.line,
        )
        return None
    entries = v.mapping(root, SIDECAR_KEYS, problems)
    dft = entries.get("dft")
    retarus = entries.get("retarus")
    return Sidecar(
        to=_to(root.value.get("to"), problems),
        sender=_text(entries.get("from"), problems),
        dft=v.boolean(dft, problems) if dft is not None else None,
        attach=_attach(entries.get("attach"), document_of(source), problems),
        reference=_text(entries.get("reference"), problems, MAX_REFERENCE),
        provider=_text(entries.get("provider"), problems),
        retarus=retarus_options(retarus, problems) if retarus is not None else None,
        source=source,
        notify=_notify(entries.get("notify"), problems),
        owner=_text(entries.get("owner"), problems, MAX_OWNER),
    )


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
    problems = Problems()
    sidecar = _read(text, source, problems)
    if problems or sidecar is None:
        in_order = sorted(problems.items, key=lambda p: p.line or 0)  # as the file reads
        attach = sidecar.attach if sidecar is not None else ()
        raise SidecarError(source, [_sentence(p) for p in in_order], hint, attach)
    return sidecar


def parse_sidecar_bytes(data: bytes, source: str) -> Sidecar:
    """parse_sidecar for the raw file: UTF-8 (with or without BOM), UTF-16 with its BOM
    (Notepad's "Unicode"), else Windows-1252, which is what older office software writes."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return parse_sidecar(data.decode("utf-16"), source)
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: read as the other encodings below
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return parse_sidecar(text, source)
