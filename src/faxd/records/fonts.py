"""The TrueType font the records are drawn with. PDF's built-in fonts cover Latin-1 only;
an embedded DejaVu Sans (Debian: fonts-dejavu-core) shows file names in any European
script. Without it the records still draw, with non-Latin-1 characters as '?'."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpdf import FPDF

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
)
FAMILY = "DejaVu"
# fontTools reports each font subset at INFO; that is noise in faxd's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)


def _find(name: str) -> Path | None:
    for directory in FONT_DIRS:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def set_up(pdf: FPDF) -> str:
    """Register the records' font with `pdf`; returns the family name to use."""
    regular, bold = _find("DejaVuSans.ttf"), _find("DejaVuSans-Bold.ttf")
    if regular is None:
        return "helvetica"
    pdf.add_font(FAMILY, "", str(regular))
    pdf.add_font(FAMILY, "B", str(bold or regular))
    return FAMILY


def printable(text: str | None, family: str) -> str:
    """Text the font can show: undecodable file-name bytes and control characters become
    U+FFFD (DejaVu) or '?' (built-in font)."""
    if text is None:
        return "-"
    cleaned = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    cleaned = "".join(c if c.isprintable() else "\ufffd" for c in cleaned)
    if family != FAMILY:
        cleaned = cleaned.encode("latin-1", "replace").decode("latin-1")
    return cleaned
