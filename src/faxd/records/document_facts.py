"""What the records say about a filed document: its sha256, page count and a reduced
image of its first page. PDFs are read with pypdfium2 (PDFium, the engine of Chrome's
viewer: a self-contained wheel, no subprocess), images with Pillow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from faxd.host import contained
from faxd.host.fsops import NotRegularFileError, file_sha256

# A first page is drawn at most this many pixels high: sharp at the report's thumbnail
# size when printed, small enough to keep the report PDF light.
THUMB_PIXELS = 700
# Decoding an image costs its full size in memory: a small PNG may declare 13000 x 13000
# pixels. Beyond this (an A4 page at 600 dpi is 35 million) no first page is drawn.
MAX_DRAWN_PIXELS = 40_000_000


@dataclass
class Facts:
    sha256: str | None
    pages: int | None
    first_page: Image.Image | None
    why_no_image: str | None = None


def _is_pdf(path: Path) -> bool:
    with path.open("rb") as handle:
        return b"%PDF-" in handle.read(1024)


def _pdf_facts(path: Path) -> tuple[int | None, Image.Image | None, str | None]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        return None, None, f"the PDF cannot be read ({exc})"
    try:
        pages = len(pdf)
        if pages == 0:
            return 0, None, "the PDF has no pages"
        page = pdf[0]
        try:
            width, height = page.get_size()
            scale = THUMB_PIXELS / max(width, height, 1.0)
            bitmap = page.render(scale=scale, grayscale=True)
            image = bitmap.to_pil().convert("L")
        finally:
            page.close()
        return pages, image, None
    finally:
        pdf.close()


def _image_facts(path: Path) -> tuple[int | None, Image.Image | None, str | None]:
    try:
        with Image.open(path) as img:
            pages = int(getattr(img, "n_frames", 1))
            if img.size[0] * img.size[1] > MAX_DRAWN_PIXELS:
                return pages, None, "the image is too large to draw"
            img.seek(0)
            first = img.convert("L")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None, None, None
    first.thumbnail((THUMB_PIXELS, THUMB_PIXELS))
    return pages, first, None


def facts(path: Path, converted: Path | None = None) -> Facts:
    """sha256 of `path`; pages and first page from it, or from `converted` (the PDF faxd
    made of it for sending) when it is neither a PDF nor an image."""
    digest = file_sha256(path)
    if _is_pdf(path):
        pages, image, why = _pdf_facts(path)
        return Facts(digest, pages, image, why)
    pages, image, why = _image_facts(path)
    if image is not None:
        return Facts(digest, pages, image)
    if converted is not None and converted.is_file() and _is_pdf(converted):
        pages, image, why = _pdf_facts(converted)
        return Facts(digest, pages, image, why)
    return Facts(digest, None, None, why or "no image of this file type is available")


def received_pages(path: Path) -> int | None:
    """Pages of a received document, opened without following a link and only if it is a
    regular file: the inbox is a share others may write, and a FIFO put in its place
    would hold the reader for ever, a link would count someone else's file."""
    try:
        fd = contained.open_file(path)
    except (OSError, NotRegularFileError):
        return None
    with open(fd, "rb") as handle:
        return page_count(handle)


def page_count(handle: BinaryIO) -> int | None:
    """Pages of a PDF or (multi-page) image read from `handle` (an open binary file, so the
    caller decides how it is opened); None for anything else or an unreadable file."""
    try:
        is_pdf = b"%PDF-" in handle.read(1024)
        handle.seek(0)
        if is_pdf:
            return _pdf_pages(handle)
        with Image.open(handle) as img:
            return int(getattr(img, "n_frames", 1))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _pdf_pages(handle: BinaryIO) -> int | None:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(handle)
    except pdfium.PdfiumError:
        return None
    try:
        return len(pdf)
    finally:
        pdf.close()
