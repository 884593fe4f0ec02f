"""The one-page transmission report, like the confirmation page a fax machine prints:
who sent, to whom, with what result, and a reduced image of the first page. Drawn with
fpdf2 in black on white only, so it stays readable when printed or faxed again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from faxd.records.fonts import printable, set_up

if TYPE_CHECKING:
    from PIL import Image

# Where the first page goes on the A4 page, in mm (x, y, width, height): tests look there.
THUMB_BOX = (15.0, 165.0, 90.0, 120.0)
MAX_RECIPIENTS = 12  # more do not fit one page; the YAML report lists them all


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
    result: str  # delivered | failed
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


def draw(data: ReportData, first_page: Image.Image | None, why_no_image: str | None) -> bytes:
    # fpdf2 (and fontTools) take a second to import: only where a PDF is drawn.
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(15, 15, 15)
    pdf.set_creator("faxd")
    family = set_up(pdf)
    pdf.set_title(printable(f"Transmission report: {data.document}", family))
    pdf.add_page()

    def text(value: str | None) -> str:
        return printable(value, family)

    ok = data.result == "delivered"
    pdf.set_font(family, "B", 16)
    pdf.cell(0, 9, "TRANSMISSION REPORT", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, "B", 13)
    verdict = "RESULT: OK - delivered" if ok else "RESULT: FAILED"
    pdf.cell(0, 8, verdict, border=1, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)

    def pair(label: str, value: str | None) -> None:
        pdf.set_font(family, "B", 9)
        pdf.cell(32, 5, label)
        pdf.set_font(family, "", 9)
        pdf.multi_cell(0, 5, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

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
    if data.error:
        pair("Error", data.error)
    for note in data.notes:
        pair("Note", note)
    pdf.ln(2)

    shown = list(data.recipients)[:MAX_RECIPIENTS]
    pdf.set_font(family, "", 7.5)
    widths = (27, 16, 13, 25, 25, 60, 14)
    with pdf.table(
        col_widths=widths, text_align="LEFT", line_height=4, first_row_as_headings=True
    ) as table:
        head = table.row()
        for title in ("Recipient", "Result", "Method", "Sent", "Final", "Provider id", "Tries"):
            head.cell(title)
        for r in shown:
            row = table.row()
            for value in (
                r.number,
                r.result,
                r.method,
                r.sent_at,
                r.finished_at,
                r.provider_id,
                str(r.attempts),
            ):
                row.cell(text(value))
    for r in shown:
        if r.error:
            pdf.multi_cell(
                0, 4, text(f"{r.number}: {r.error}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
    if len(data.recipients) > len(shown):
        more = len(data.recipients) - len(shown)
        pdf.cell(0, 5, f"... and {more} more recipients: see the YAML report beside this file.")

    x, y, w, h = THUMB_BOX
    y = max(y, pdf.get_y() + 4)
    h = min(h, 287 - y)
    pdf.set_font(family, "B", 9)
    pdf.set_xy(x, y - 5)
    pdf.cell(w, 5, "First page")
    pdf.rect(x, y, w, h)
    if first_page is not None and h > 20:
        ratio = min(w / first_page.width, h / first_page.height)
        iw, ih = first_page.width * ratio, first_page.height * ratio
        pdf.image(first_page, x=x + (w - iw) / 2, y=y + (h - ih) / 2, w=iw, h=ih)
    else:
        pdf.set_font(family, "", 9)
        pdf.set_xy(x + 3, y + 3)
        reason = why_no_image or "no image of the first page is available"
        pdf.multi_cell(w - 6, 5, text(f"No first-page image: {reason}."))
    return bytes(pdf.output())
