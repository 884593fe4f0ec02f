"""The `retarus:` options, written at the folder level, under `defaults:` or in a sidecar:
one parser, so a problem reads the same wherever it was written."""

from __future__ import annotations

from typing import Any

from faxd.config import values as v
from faxd.config.yaml_tree import Node, Problems
from faxd.settings import RETARUS_OPTION_KEYS, RetarusOptions


def retarus_options(node: Node, problems: Problems) -> RetarusOptions:
    """The options written at one level; what is not written stays unset (None), for
    RetarusOptions.over to fill from the level below."""
    entries = v.mapping(node, RETARUS_OPTION_KEYS, problems)
    options: dict[str, Any] = {}
    for key, child in entries.items():
        value: Any = None
        if key in ("coverpage_template", "header"):
            value = v.text(child, problems)
        elif key == "resolution":
            value = v.choice(child, ("HIGH", "LOW"), problems)
        elif key == "paper_format":
            value = v.choice(child, ("A4", "LETTER"), problems)
        elif key in ("express", "blacklist"):
            value = v.boolean(child, problems)
        elif key == "recipient_properties":
            value = _string_map(child, problems)
        if value is not None:
            options[key] = value
    return RetarusOptions(**options)


def _string_map(node: Node, problems: Problems) -> dict[str, str] | None:
    if node.kind != "map":
        problems.add(node, f"must be a mapping of names to values, not {v.describe(node)}.")
        return None
    result: dict[str, str] = {}
    for key, child in node.value.items():
        value = v.text(child, problems)
        if value is not None:
            result[key] = value
    return result
