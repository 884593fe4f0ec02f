"""Read the configuration file into a tree that remembers where every value was written.

PyYAML's `safe_load` forgets line numbers and silently lets a repeated key win, and its
YAML 1.1 typing turns `+4612345678` into an int and `NO` (Norway) into False. We compose
the node graph instead, so every problem can name its key path and line, and every
scalar keeps the text exactly as the admin wrote it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faxd.errors import ConfigProblem
from faxd.host.setting_files import read_setting_file

FILE = "(file)"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_DEPTH = 40  # deeper than any sane config; stops alias cycles (`&a [*a]`)
# Values after alias expansion: a few kilobytes of nested aliases ("billion laughs") would
# otherwise expand into billions of nodes. Far more than any config or sidecar holds.
_MAX_NODES = 100_000
EMPTY = "the file is empty; see config/faxd.example.yaml."


@dataclass
class Node:
    """One value of the file: a mapping, a sequence or a scalar, with its place."""

    path: str
    line: int | None
    kind: str  # "map" | "seq" | "scalar"
    value: Any  # dict[str, Node] | list[Node] | the YAML-typed scalar
    text: str | None = None  # a scalar's source text (None for mappings and sequences)
    plain: bool = False  # an unquoted scalar (its YAML type may differ from its text)

    @property
    def is_null(self) -> bool:
        return self.kind == "scalar" and self.value is None


@dataclass
class Problems:
    """Collects every problem so they can all be reported at once."""

    items: list[ConfigProblem] = field(default_factory=list)
    # Accepted but worth changing (an old key name): shown by check-config, logged at start.
    warnings: list[ConfigProblem] = field(default_factory=list)

    def warn(self, where: Node, message: str) -> None:
        self.warnings.append(ConfigProblem(where.path, message, where.line))

    def add(self, where: Node | str, message: str, line: int | None = None) -> None:
        if isinstance(where, Node):
            self.items.append(ConfigProblem(where.path, message, where.line))
        else:
            self.items.append(ConfigProblem(where, message, line))

    def __bool__(self) -> bool:
        return bool(self.items)


def child_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if not _IDENTIFIER.match(key):
        escaped = key.replace("\\", "\\\\").replace('"', '\\"')
        return f'{parent}["{escaped}"]'
    return f"{parent}.{key}" if parent else key


def read_tree(path: Path, problems: Problems) -> Node | None:
    """The file's top-level node, or None with one problem saying why it cannot be read."""
    try:
        text = read_setting_file(path).decode("utf-8")
    except FileNotFoundError:
        problems.add(
            FILE,
            f"{path} does not exist; create it (config/faxd.example.yaml is a start) "
            "or name another file with --config or FAXD_CONFIG.",
        )
        return None
    except IsADirectoryError:
        problems.add(FILE, f"{path} is a directory; name the YAML file itself.")
        return None
    except PermissionError:
        problems.add(FILE, f"{path} cannot be read (permission denied); let faxd's user read it.")
        return None
    except UnicodeDecodeError as exc:
        problems.add(FILE, f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8.")
        return None
    except OSError as exc:
        problems.add(FILE, f"{path} cannot be read ({exc.strerror}).")
        return None
    return parse_tree(text, problems)


def parse_tree(text: str, problems: Problems, empty: str = EMPTY) -> Node | None:
    """The text's top-level node, or None with the problem; `empty` is what an empty
    text is told (a sidecar is not the configuration file)."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        # The reader refuses control characters before parsing starts: NUL bytes of a
        # UTF-16 file (Notepad's "Unicode"), or an escape sequence pasted in.
        line = text.count("\n", 0, exc.position) + 1
        problems.add(
            FILE,
            f"holds a character YAML does not allow (#x{_code(exc.character):04x}); save it "
            "as plain UTF-8 text without control characters.",
            line,
        )
        return None
    try:
        return _parse(loader, problems, empty)
    except RecursionError:
        # PyYAML composes (and faxd converts) nested values recursively: a few hundred
        # levels of [[[…]]] must be a problem in the file, not a traceback or a retry loop.
        problems.add(FILE, "nested too deeply to read; write its values with fewer levels.")
        return None
    finally:
        loader.dispose()


def _parse(loader: yaml.SafeLoader, problems: Problems, empty: str) -> Node | None:
    """parse_tree's work, for one loader."""
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        remedy = (
            "YAML is indented with spaces, never tabs: replace the tab with spaces"
            if "'\\t'" in what
            else "fix the file's syntax"
        )
        problems.add(
            FILE,
            f"YAML syntax error: {what}; {remedy}.",
            mark.line + 1 if mark else None,
        )
        return None
    except yaml.YAMLError as exc:
        problems.add(FILE, f"YAML syntax error: {exc}; fix the file's syntax.")
        return None
    if root is None:
        problems.add(FILE, empty, 1)
        return None
    if _expanded_size(root, {}, 0) > _MAX_NODES:
        problems.add(
            FILE,
            f"holds more than {_MAX_NODES} values once its aliases (*name) are expanded; "
            "write the values out instead.",
        )
        return None
    return _convert(loader, root, "", root.start_mark.line + 1, problems, 0)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], depth: int) -> int:
    """How many nodes the graph has as a tree; each shared node is counted once per use
    but walked once, so nested aliases cost no time here."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if depth > _MAX_DEPTH or isinstance(node, yaml.ScalarNode):
        return 1  # too deep is refused by _convert with its own message
    sizes[id(node)] = 1  # an alias cycle (`&a [*a]`): counted small, refused by _convert
    children: list[yaml.Node] = (
        [part for pair in node.value for part in pair]
        if isinstance(node, yaml.MappingNode)
        else list(node.value)
    )
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, depth + 1)
        if total > _MAX_NODES:
            break
    sizes[id(node)] = total
    return total


def _convert(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: str,
    line: int,
    problems: Problems,
    depth: int,
) -> Node:
    if depth > _MAX_DEPTH:
        problems.add(path, "nested too deeply (a recursive alias?); simplify it.", line)
        return Node(path, line, "scalar", None)
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(loader, node, path, line, problems, depth)
    if isinstance(node, yaml.SequenceNode):
        items = [
            _convert(
                loader, item, child_path(path, i), item.start_mark.line + 1, problems, depth + 1
            )
            for i, item in enumerate(node.value)
        ]
        return Node(path, line, "seq", items)
    assert isinstance(node, yaml.ScalarNode)
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.add(path, f"cannot read this value ({exc}); write a plain value.", line)
        value = None
    except (ValueError, OverflowError):
        value = str(node.value)  # looks like a date but is none (2026-02-30): it is text
    return Node(path, line, "scalar", value, text=str(node.value), plain=node.style is None)


def _convert_mapping(
    loader: yaml.SafeLoader,
    node: yaml.MappingNode,
    path: str,
    line: int,
    problems: Problems,
    depth: int,
) -> Node:
    seen: dict[str, int] = {}
    explicit = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key, key_line = str(key_node.value), key_node.start_mark.line + 1
        if key in seen:
            problems.add(
                child_path(path, key),
                f"key '{key}' is given twice (lines {seen[key]} and {key_line}); keep one.",
                key_line,
            )
        else:
            seen[key] = key_line
    try:
        # Resolves `<<: *anchor` merge keys in place; explicit keys then override merged ones.
        loader.flatten_mapping(node)
    except yaml.YAMLError as exc:
        problems.add(path, f"cannot merge this mapping ({exc}); fix the '<<' entry.", line)
    _merged_twice(node.value[: len(node.value) - explicit], path, line, problems)
    entries: dict[str, Node] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            problems.add(path, "a key must be a plain value, not a list or mapping.", key_line)
            continue
        key = str(key_node.value)
        entries[key] = _convert(
            loader, value_node, child_path(path, key), key_line, problems, depth + 1
        )
    return Node(path, line, "map", entries)


def _merged_twice(
    merged: list[tuple[yaml.Node, yaml.Node]], path: str, line: int, problems: Problems
) -> None:
    """A key that two mappings merged with `<<: [*a, *b]` both give: which one counts is a
    rule few readers know (the first), so it is not guessed at; a key written beside the
    `<<` still overrides merged ones, as everyone expects."""
    given: set[str] = set()
    for key_node, _ in merged:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
        if key is None:
            continue
        if key in given:
            problems.add(
                child_path(path, key),
                f"key '{key}' is given by two merged mappings; write it beside the '<<'.",
                line,
            )
        given.add(key)


def _code(character: int | str) -> int:
    """PyYAML's ReaderError gives the character's code (or, for bytes, the byte)."""
    return character if isinstance(character, int) else ord(character[:1] or "\0")
