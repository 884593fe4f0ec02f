"""The text layer of a PDF, for embedded recipient codes (print-to-fax).

Only the first pages are read: an addressing code sits at the top or bottom of a letter,
and reading the text of a several-hundred-page PDF would hold up intake for minutes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from faxd.host import contained

MAX_PAGES = 20

# pypdf reports recoverable oddities of real-world PDFs as warnings on its logger; they
# say nothing about the code search and would flood faxd's log.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class PdfText:
    pages: tuple[str, ...]  # the text of each page read, in order
    problem: str | None = None  # why the text could not be read (the document is still sent)


def read_pdf_text(path: Path, max_pages: int = MAX_PAGES) -> PdfText:
    """The text of the first `max_pages` pages; an unreadable PDF gives no pages and a
    problem, never an exception: a PDF without a readable text layer may still be faxed."""
    # Imported here: pypdf pulls in fontTools and Pillow (about 20 MB), which a daemon
    # whose folders never see an embedded code should not carry.
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    pages: list[str] = []
    try:
        # Through a descriptor that followed no link, like every read of a document.
        with contained.opened(path) as stream:
            reader = PdfReader(stream)
            if reader.is_encrypted and not reader.decrypt(""):
                return PdfText((), f"{path.name} is encrypted; its text cannot be searched.")
            for page in reader.pages[:max_pages]:
                pages.append(page.extract_text() or "")
    except (PyPdfError, OSError, RecursionError) as exc:
        return PdfText(tuple(pages), f"{path.name}: the PDF's text could not be read ({exc}).")
    except Exception as exc:  # pypdf raises many kinds on malformed PDFs; none may stop intake
        return PdfText(tuple(pages), f"{path.name}: the PDF's text could not be read ({exc}).")
    return PdfText(tuple(pages))
