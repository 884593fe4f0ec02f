"""Text as a terminal or a strict sink shows it. File names come from office users and
scanners, and answers from providers and mail servers: none of it may break a line of a
table, send a terminal an escape sequence, or end a command in an encoding error."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

# C0/C1 controls (escape sequences, carriage returns, line breaks) shown, not obeyed.
CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
# The same for text of several lines: its own line breaks and tabs stay.
CONTROLS_BUT_LINES = {c: v for c, v in CONTROLS.items() if c not in (0x09, 0x0A)}


def safe_text(value: str) -> str:
    """Make text printable in any encoding-strict sink (JSON, journal, a UTF-8 terminal).

    File names from disk can carry undecodable bytes (surrogate escapes); they become
    visible `\\xNN` escapes instead of breaking the line."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return value


def safe_values(value: Any) -> Any:
    """`value` with every string in it (keys too, in lists and dicts) made `safe_text`."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_values(k): safe_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_values(v) for v in value]
    return value


def shown(value: object) -> str:
    """`value` as one printable line: a name with a line break stays in its table cell."""
    return safe_text(str(value)).translate(CONTROLS)


def shown_lines(text: str) -> str:
    """Text of several lines, printable: only its line breaks and tabs act."""
    return safe_text(text).translate(CONTROLS_BUT_LINES)


def width(text: str) -> int:
    """Columns `text` takes in a terminal: East Asian wide and fullwidth characters (CJK,
    most emoji) take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def table(rows: Sequence[Sequence[object]]) -> str:
    """Rows as aligned columns, two spaces apart, every cell one printable line; padded by
    the columns a cell takes on screen, so a Japanese file name keeps its row aligned."""
    cells = [[shown(c) for c in row] for row in rows]
    widths = [max(width(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join(
        "  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )
