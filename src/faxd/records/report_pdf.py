"""The transmission report, like the confirmation page a fax machine prints: who sent,
to whom, with what result, and a reduced image of the first page. Drawn with fpdf2 in
black on white only, so it stays readable when printed or faxed again.

One page in the common case. Many recipients with long errors continue the table on a
second page (its heading repeated), and the first page's image goes below the table, or
on a page of its own when there is no room for it: nothing is drawn below PAGE_BOTTOM or
over other text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from faxd.records.fonts import printable, set_up

if TYPE_CHECKING:
    from PIL import Image

# Where the first page goes on the A4 page, in mm (x, y, width, height): tests look there.
# A table too long to end above it moves the image down, or to a page of its own.
THUMB_BOX = (15.0, 165.0, 90.0, 120.0)
PAGE_BOTTOM = 285.0  # mm from the top of the A4 page: nothing is drawn lower
MIN_THUMB_HEIGHT = 60.0  # a smaller image of the first page goes to a page of its own
MAX_RECIPIENTS = 50  # more continue in the YAML report only (a document has at most 10)
# The recipients table, 180 mm wide: the times ("2026-12-01" over "14:50:55 +01:00"), a
# 15-digit number and any UUID fit their columns at 7.5 pt with the cells' 1 mm padding
# each side, and no bold heading is broken ("Method"). DejaVu's digits are its widest hex
# characters: an all-digit UUID is 57.7 mm of text; a 59 mm column broke one random
# UUID in fourteen.
COLUMNS = (
    ("Recipient", 30.0),
    ("Result", 15.0),
    ("Method", 14.0),
    ("Sent", 25.0),
    ("Final", 25.0),
    ("Provider id", 61.0),
    ("Tries", 10.0),
)


@dataclass(frozen=True)
class RecipientLine:
    number: str
    result: str
    method: str | None
    sent_at: str | None
    finished_at: str | None
    provider_id: str | None
    attempts: int
    error: str | None


@dataclass(frozen=True)
class ReportData:
    result: str  # delivered | failed | held
    station_name: str | None
    our_number: str | None
    provider: str
    job_id: str
    document: str
    pages: int | None
    sha256: str | None
    reference: str | None
    received_at: str | None
    finished_at: str | None
    recipients: Sequence[RecipientLine]
    error: str | None = None
    notes: Sequence[str] = field(default_factory=tuple)


def _verdict(result: str) -> str:
    if result == "delivered":
        return "RESULT: OK - delivered"
    if result == "held":
        return "RESULT: HELD - not sent"
    return "RESULT: FAILED"


def _what_to_do(data: ReportData) -> str:
    return (
        f"Nothing was sent. If the numbers are right, 'faxd release {data.job_id}' sends "
        "the document as addressed and remembers them; if one is wrong, correct the address "
        "and move the document back into the spool folder."
    )


def top_error(data: ReportData, shown: Sequence[RecipientLine]) -> tuple[str | None, bool]:
    """The report's top `Error` line, and whether the table lists each recipient's error.

    The YAML report's `error` of a failed document is every failed recipient's error
    joined (a held one's: every reason, then what to do). Printed in full above a table
    that lists the same errors, ten recipients' errors filled half the page twice. So when
    the table carries them, the top line only counts them (with what the recipients'
    errors leave of it); a lone recipient's error stays on top, as it always was, and is
    not repeated in the table."""
    failing = [r for r in shown if r.error]
    if not data.error:
        return None, bool(failing)
    rest = data.error
    for r in failing:
        assert r.error is not None
        before = rest
        rest = rest.replace(f"{r.number}: {r.error}", "")
        if rest == before:
            rest = rest.replace(r.error, "")
        if rest == before:  # not the recipients' errors joined: a job's own error
            return data.error, bool(failing)
    if failing:  # what is left between the errors: their separators, maybe a sentence
        rest = " ".join(rest.replace(";", " ").split()).strip(" .")
    if data.result == "held" and "faxd release" in rest:
        rest = ""  # the hint, said by "To do" below
    if not failing:
        return rest or None, False
    if len(data.recipients) == 1:
        (r,) = failing
        return " ".join(filter(None, (f"{r.number}: {r.error}", rest))), False
    what = "held" if data.result == "held" else "failed"
    count = (
        f"{len(failing)} of {len(data.recipients)} recipients {what}: "
        "each one's error is in the table below."
    )
    return " ".join(filter(None, (count, rest))), True


def draw(data: ReportData, first_page: Image.Image | None, why_no_image: str | None) -> bytes:
    # fpdf2 (and fontTools) take a second to import: only where a PDF is drawn.
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    # Text that reaches the bottom goes on to the next page (the table with its heading).
    pdf.set_auto_page_break(auto=True, margin=pdf.h - PAGE_BOTTOM)
    pdf.set_margins(15, 15, 15)
    pdf.set_creator("faxd")
    family = set_up(pdf)
    pdf.set_title(printable(f"Transmission report: {data.document}", pdf))
    pdf.add_page()

    def text(value: str | None) -> str:
        return printable(value, pdf)

    pdf.set_font(family, "B", 16)
    pdf.cell(0, 9, "TRANSMISSION REPORT", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, "B", 13)
    pdf.cell(0, 8, _verdict(data.result), border=1, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)

    def pair(label: str, value: str | None) -> None:
        pdf.set_font(family, "B", 9)
        pdf.cell(32, 5, label)
        pdf.set_font(family, "", 9)
        pdf.multi_cell(0, 5, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    shown = list(data.recipients)[:MAX_RECIPIENTS]
    error, errors_in_table = top_error(data, shown)
    pair("Station", data.station_name)
    pair("Our number", data.our_number)
    pair("Provider", data.provider)
    pair("Job", data.job_id)
    pdf.ln(1)
    pair("Document", data.document)
    pair("Pages", str(data.pages) if data.pages is not None else "unknown")
    pair("SHA-256", data.sha256)
    pair("Reference", data.reference)
    pair("Picked up", data.received_at)
    pair("Finished", data.finished_at)
    if error:
        pair("Held" if data.result == "held" else "Error", error)
    if data.result == "held":
        pair("To do", _what_to_do(data))
    for note in data.notes:
        pair("Note", note)
    pdf.ln(2)

    pdf.set_font(family, "", 7.5)
    with pdf.table(
        col_widths=tuple(width for _, width in COLUMNS),
        text_align="LEFT",
        line_height=4,
        first_row_as_headings=True,
        repeat_headings=1,
    ) as table:
        head = table.row()
        for title, _ in COLUMNS:
            head.cell(title)
        for r in shown:
            row = table.row()
            # A recipient's error goes on a line of its own below its row, the number
            # spanning both: fpdf2 never breaks the page between them.
            with_error = bool(r.error) and errors_in_table
            if with_error:
                row.cell(text(r.number), v_align="TOP", rowspan=2)
            else:
                row.cell(text(r.number))
            for value in (
                r.result,
                r.method,
                r.sent_at,
                r.finished_at,
                r.provider_id,
                str(r.attempts),
            ):
                row.cell(text(value))
            if with_error:
                table.row().cell(text(f"Error: {r.error}"), colspan=len(COLUMNS) - 1)
    if len(data.recipients) > len(shown):
        more = len(data.recipients) - len(shown)
        pdf.cell(0, 5, f"... and {more} more recipients: see the YAML report beside this file.")
        pdf.ln(5)

    x, y, w, h = THUMB_BOX
    label = 5.0
    top = pdf.get_y() + 4 + label  # below everything drawn so far, its label above it
    if top > y:
        if PAGE_BOTTOM - top >= MIN_THUMB_HEIGHT:
            y, h = top, min(h, PAGE_BOTTOM - top)
        else:
            pdf.add_page()
            y = pdf.t_margin + label
    pdf.set_font(family, "B", 9)
    pdf.set_xy(x, y - label)
    pdf.cell(w, label, "First page")
    pdf.rect(x, y, w, h)
    if first_page is not None:
        ratio = min(w / first_page.width, h / first_page.height)
        iw, ih = first_page.width * ratio, first_page.height * ratio
        pdf.image(first_page, x=x + (w - iw) / 2, y=y + (h - ih) / 2, w=iw, h=ih)
    else:
        pdf.set_font(family, "", 9)
        pdf.set_xy(x + 3, y + 3)
        reason = why_no_image or "no image of the first page is available"
        pdf.multi_cell(w - 6, 5, text(f"No first-page image: {reason}."))
    return bytes(pdf.output())
