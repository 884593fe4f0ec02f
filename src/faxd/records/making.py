"""One filed job's records made in one call: the document's facts (sha256, pages, first
page) and its report PDF. A plain function of picklable values, so the daemon can run it
in a helper process (see pool.py) and the one-shot commands in their own."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from faxd.records import document_facts, report_pdf
from faxd.records.report_pdf import ReportData


@dataclass(frozen=True)
class Made:
    sha256: str | None
    pages: int | None
    pdf: bytes | None  # None: not wanted, or not drawable (see error)
    error: str | None
    interrupted: bool = False  # the drawing process died (a stop, or the document)


def make(
    document: Path | None,
    data: ReportData,
    *,
    draw: bool,
    problem: str | None,
    converted: Path | None = None,
) -> Made:
    """`converted`: a PDF made of a document that is neither PDF nor image (PostScript),
    for its first page."""
    facts = None
    if document is not None:
        try:
            facts = document_facts.facts(document, converted)
        except OSError as exc:
            problem = f"the filed document cannot be read ({exc.strerror})"
    sha256 = facts.sha256 if facts else None
    pages = facts.pages if facts else None
    if not draw:
        return Made(sha256, pages, None, problem)
    data = dataclasses.replace(data, sha256=sha256, pages=pages)
    why = (facts.why_no_image if facts else None) or problem
    try:
        pdf = report_pdf.draw(data, facts.first_page if facts else None, why)
    except Exception as exc:  # a drawing bug costs the PDF, never the filing
        return Made(sha256, pages, None, f"the report PDF could not be drawn ({exc})")
    return Made(sha256, pages, pdf, problem)
