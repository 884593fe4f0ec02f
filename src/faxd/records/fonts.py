"""The TrueType fonts the records are drawn with. PDF's built-in fonts cover Latin-1 only;
an embedded DejaVu Sans (Debian: fonts-dejavu-core) shows file names in any European
script, and Droid Sans Fallback (fonts-droid-fallback), where installed, the Chinese,
Japanese and Korean ones. A character no font has is drawn as U+FFFD (or '?' without
DejaVu), never left out: a name missing letters looks like another file's."""

from __future__ import annotations

import functools
import logging
import re
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
FALLBACK_DIRS = (
    Path("/usr/share/fonts/truetype/droid"),
    Path("/usr/share/fonts/droid"),
    Path("/usr/local/share/fonts/droid"),
)
FALLBACK = "DroidFallback"
# fontTools reports each font subset at INFO; that is noise in faxd's log.
logging.getLogger("fontTools").setLevel(logging.WARNING)


@functools.cache  # a font installed later is found after a restart
def _find(name: str, dirs: tuple[Path, ...] = FONT_DIRS) -> Path | None:
    for directory in dirs:
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


def _add_fallback(pdf: FPDF) -> bool:
    """Add the fallback font to `pdf` (False when it is not installed, or added already).
    Only for a text that needs it: reading its 4 MB takes 0.3 s of every PDF drawn."""
    if FALLBACK.lower() in pdf.fonts:
        return False
    fallback = _find("DroidSansFallbackFull.ttf", FALLBACK_DIRS)
    if fallback is None:
        return False
    pdf.add_font(FALLBACK, "", str(fallback))
    # exact_match=False: its one style stands in for bold too (a station's name).
    pdf.set_fallback_fonts([FALLBACK], exact_match=False)
    return True


# Scripts whose letters join or reorder (Hebrew, Arabic, Syriac, Thaana, N'Ko, the Indic
# scripts, Tibetan, Myanmar, Khmer, and the Arabic presentation forms): drawn one glyph
# per character they come out unjoined and in the wrong order, a name nobody can read.
_NEEDS_SHAPING = re.compile(
    "[\u0590-\u08ff\u0900-\u0dff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\ufb1d-\ufdff\ufe70-\ufefc]"
)


def _shape_from_now_on(text: str, pdf: FPDF) -> None:
    """Let HarfBuzz (uharfbuzz) shape the text drawn from here on, once a text needs it:
    only then, as shaping costs every later line of the PDF some time."""
    if pdf.text_shaping or not _NEEDS_SHAPING.search(text):
        return
    from fpdf.errors import FPDFException  # loaded already: `pdf` is an FPDF

    try:
        # Left to right as a whole, like the report around it and a file manager's list.
        pdf.set_text_shaping(True, direction="ltr")
    except FPDFException:
        return  # uharfbuzz is not installed: drawn unjoined, still every letter


def printable(text: str | None, pdf: FPDF) -> str:
    """Text `pdf`'s fonts can show: undecodable file-name bytes, control characters and
    characters no font has become U+FFFD (DejaVu) or '?' (built-in font)."""
    if text is None:
        return "-"
    cleaned = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    cleaned = "".join(c if c.isprintable() else "\ufffd" for c in cleaned)
    from fpdf.fonts import TTFFont  # loaded already: `pdf` is an FPDF

    maps = [font.cmap for font in pdf.fonts.values() if isinstance(font, TTFFont)]
    if not maps:
        return cleaned.encode("latin-1", "replace").decode("latin-1")
    if any(all(ord(c) not in m for m in maps) for c in cleaned) and _add_fallback(pdf):
        maps = [font.cmap for font in pdf.fonts.values() if isinstance(font, TTFFont)]
    shown = "".join(c if any(ord(c) in m for m in maps) else "\ufffd" for c in cleaned)
    _shape_from_now_on(shown, pdf)
    return shown
