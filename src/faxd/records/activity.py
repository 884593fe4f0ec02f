"""The daily activity journal: one day's traffic, sent and received, as a CSV for
spreadsheets and a PDF table for people (`YYYY/YYYY-MM-DD.csv` and `.pdf`).

The CSV is UTF-8 with a byte-order mark, because Excel takes a file without one for the
local ANSI code page (LibreOffice reads the mark too); every field is quoted. A cell
that a spreadsheet would run as a formula (`=`, `@`, `-`, or `+` where the cell is not
a number such as `+46812345678`, e.g. from a received document's name) gets a leading
apostrophe.

Excel opened with a double-click ignores the quotes and turns `+46812345678` into
4.68123E+10 (and `0812…` loses its 0). The `excel` dialect (the default) therefore
writes a number or id that is all digits, with or without `+`, after a tab: Excel keeps
it as text and the tab does not show. `="+46…"` would also work in Excel but is a
formula, shown as such by every other reader; the tab is a plain character that programs
strip. Only digits get the tab, so a program that strips it and evaluates the rest still
sees a number, never a formula. `standard` writes every value exactly as it is."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date
from pathlib import Path

from faxd.host import contained
from faxd.records.fonts import printable, set_up

HEADER = (
    "time",
    "direction",
    "our_number",
    "other_number",
    "document",
    "pages",
    "result",
    "method",
    "provider",
    "id",
    "sha256",
)


@dataclass(frozen=True)
class ActivityRow:
    time: str  # ISO 8601 with offset
    direction: str  # sent | received
    our_number: str
    other_number: str
    document: str
    pages: str
    result: str  # delivered | failed | received
    method: str
    provider: str
    id: str
    sha256: str


assert tuple(f.name for f in fields(ActivityRow)) == HEADER

# The sha256 of a sent document not filed when the journal was written: its checksum and
# pages are taken at filing, and an empty cell would not say why they are missing.
NOT_FILED = "not filed"


_DIGITS = re.compile(r"\+?[0-9]+")


def _cell(value: str) -> str:
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    # A `+` starts a formula unless the whole cell is a number (`+1+1+cmd|…` is not).
    if value[:1] in ("=", "@", "-", "\t", "\r") or (
        value[:1] == "+" and not _DIGITS.fullmatch(value)
    ):
        return "'" + value
    return value


_AS_TEXT = frozenset(HEADER.index(name) for name in ("our_number", "other_number", "id"))


def _excel_text(value: str) -> str:
    return "\t" + value if _DIGITS.fullmatch(value) else value


def csv_bytes(rows: Sequence[ActivityRow], dialect: str = "excel") -> bytes:
    """`dialect`: excel | standard (see the module's docstring)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        cells = [_cell(v) for v in astuple(row)]
        if dialect == "excel":
            cells = [_excel_text(c) if i in _AS_TEXT else c for i, c in enumerate(cells)]
        writer.writerow(cells)
    return out.getvalue().encode("utf-8-sig")


def totals(rows: Sequence[ActivityRow]) -> dict[str, int]:
    count = {"sent": 0, "delivered": 0, "failed": 0, "received": 0, "pages": 0}
    for row in rows:
        count["sent" if row.direction == "sent" else "received"] += 1
        if row.result in ("delivered", "failed"):
            count[row.result] += 1
        if row.pages.isdigit():
            count["pages"] += int(row.pages)
    return count


def _time_of_day(when: str) -> str:
    """`14:50:48 +01:00` from `2026-12-01T14:50:48+01:00`: the journal's Time column."""
    clock, offset = when[11:19], when[19:]
    if len(when) < 19 or when[10:11] != "T" or not clock:
        return when
    return f"{clock} {offset}" if offset else clock


def pdf_bytes(rows: Sequence[ActivityRow], day: date, station: str | None) -> bytes:
    from fpdf import FPDF  # slow to import: only where a PDF is drawn
    from fpdf.enums import XPos, YPos

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(12, 12, 12)
    pdf.set_creator("faxd")
    family = set_up(pdf)
    pdf.set_title(f"Activity journal {day.isoformat()}")
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(family, "B", 14)
    title = f"Activity journal {day.isoformat()}"
    if station:
        title += f" - {station}"
    pdf.cell(0, 8, printable(title, pdf), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, "", 6.5)
    # Time: "14:50:48 +01:00", the offset on every row (a day may cross a clock change).
    widths = (23, 14, 27, 27, 55, 10, 15, 12, 15, 75)
    titles = ("Time", "Dir.", "Our number", "Other number", "Document", "Pages", "Result")
    titles2 = ("Method", "Provider", "Id / SHA-256")
    with pdf.table(
        col_widths=widths, text_align="LEFT", line_height=3.2, repeat_headings=1
    ) as table:
        head = table.row()
        for name in (*titles, *titles2):
            head.cell(name)
        for r in rows:
            line = table.row()
            for value in (
                _time_of_day(r.time),  # the day is in the title
                r.direction,
                r.our_number,
                r.other_number,
                r.document,
                r.pages,
                r.result,
                r.method,
                r.provider,
            ):
                line.cell(printable(value, pdf))
            # Each part made printable on its own: the line break between them stays.
            line.cell("\n".join(printable(part, pdf) for part in (r.id, r.sha256)))
    count = totals(rows)
    pdf.ln(3)
    pdf.set_font(family, "B", 9)
    summary = (
        f"Totals: {count['sent']} sent ({count['delivered']} delivered, "
        f"{count['failed']} failed), {count['received']} received, {count['pages']} pages."
    )
    pdf.cell(0, 6, summary, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    unfiled = sum(1 for r in rows if r.sha256 == NOT_FILED)
    if unfiled:
        pdf.set_font(family, "", 9)
        pdf.cell(
            0,
            6,
            f"{unfiled} transmission(s) of documents not filed when this journal was written: "
            "their pages and SHA-256 are not known.",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    if not rows:
        pdf.cell(0, 6, "No documents were sent or received on this day.")
    return bytes(pdf.output())


def day_paths(directory: Path, day: date) -> tuple[Path, Path]:
    """The day's `YYYY/YYYY-MM-DD.csv` and `.pdf` below `directory`."""
    stem = directory / f"{day.year:04d}" / day.isoformat()
    return stem.with_suffix(".csv"), stem.with_suffix(".pdf")


def write_day(
    directory: Path,
    day: date,
    rows: Sequence[ActivityRow],
    station: str | None,
    dialect: str = "excel",
    draw: Callable[[Sequence[ActivityRow], date, str | None], bytes] | None = None,
) -> tuple[Path, Path]:
    """Write (or rewrite: a day's journal is made from the journal again, not edited)
    `YYYY/YYYY-MM-DD.csv` and `.pdf`, each atomically. `draw` makes the PDF (the daemon's
    drawing helper); by default it is drawn here.

    Written through folder descriptors opened below `directory`: records.path may be a
    share the office can write, and a year folder swapped for a link must not carry the
    journal (or a file named like it) elsewhere (NotRegularFileError)."""
    pdf = (draw or pdf_bytes)(rows, day, station)
    csv_path, pdf_path = day_paths(directory, day)
    contained.write_beneath(directory, csv_path, csv_bytes(rows, dialect))
    contained.write_beneath(directory, pdf_path, pdf)
    return csv_path, pdf_path
