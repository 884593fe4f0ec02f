"""The text layer of a PDF, for embedded recipient codes (print-to-fax).

Only the first pages are read: an addressing code sits at the top or bottom of a letter,
and reading the text of a several-hundred-page PDF would hold up intake for minutes."""

from __future__ import annotations

import logging
import mmap
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from faxd.host import contained

MAX_PAGES = 20
# Up to this size, a PDF is first searched for the names a text layer needs (see
# _may_hold_text); a larger one goes to pypdf directly.
PRECHECK_MAX = 16 * 1024 * 1024

# Text is shown in a font named in a /Font resource dictionary. Outside object streams
# every dictionary is stored as written, so a PDF whose bytes name neither /Font nor
# /ObjStm has no text layer: most scans. A name may write any letter as #xx. One pattern,
# so a scan, which has neither, is read once.
_TEXT_NAMES = re.compile(
    rb"/(?:F|#46)(?:o|#6[fF])(?:n|#6[eE])(?:t|#74)"  # /Font
    rb"|/(?:O|#4[fF])(?:b|#62)(?:j|#6[aA])(?:S|#53)(?:t|#74)(?:m|#6[dD])"  # /ObjStm
)

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
    try:
        # Through a descriptor that followed no link, like every read of a document.
        with contained.opened(path) as stream:
            if not _may_hold_text(stream.fileno()):
                return PdfText(())  # no page has text: pypdf would find none, slower
            return _parse(stream, path.name, max_pages)
    except OSError as exc:
        return PdfText((), f"{path.name}: the PDF's text could not be read ({exc}).")


def _parse(stream: BinaryIO, name: str, max_pages: int) -> PdfText:
    # Imported here, after the check for a font: pypdf pulls in fontTools and Pillow
    # (about 20 MB), which a daemon that only ever sees scans should not carry.
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    pages: list[str] = []
    try:
        reader = PdfReader(stream)
        if reader.is_encrypted and not reader.decrypt(""):
            return PdfText((), f"{name} is encrypted; its text cannot be searched.")
        for page in reader.pages[:max_pages]:
            pages.append(page.extract_text() or "")
    except (PyPdfError, OSError, RecursionError) as exc:
        return PdfText(tuple(pages), f"{name}: the PDF's text could not be read ({exc}).")
    except Exception as exc:  # pypdf raises many kinds on malformed PDFs; none may stop intake
        return PdfText(tuple(pages), f"{name}: the PDF's text could not be read ({exc}).")
    return PdfText(tuple(pages))


def _may_hold_text(fd: int) -> bool:
    """False only when the file cannot have a text layer (no font named, no object
    stream that could hide one); True when in doubt."""
    size = os.fstat(fd).st_size
    if size == 0 or size > PRECHECK_MAX:
        return True
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as data:
        return _TEXT_NAMES.search(data) is not None
