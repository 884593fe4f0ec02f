"""Whether a downloaded file can be the received document, or is the provider failing.

A provider (or a proxy in front of it) that answers 200 with an empty body or with a web
page (a login form, an error page) has not sent the document: saved, it would lie in the
inbox as a fax nobody can open, and with `delete_after_download` the real one would be
deleted at the provider. A file sent by Direct File Transfer is the sender's own and may be
text that begins like a page (the source of one, in a `.txt`): a page counts only where
the file cannot be one, a fax the provider rendered or a name of a binary format."""

from __future__ import annotations

from faxd.core.names import safe_component
from faxd.core.preflight import (
    HTML,
    KNOWN_TYPES,
    PCX,
    PRIMARY_MIME,
    TEXT,
    extension_for,
    extension_of,
    sniff_mime,
    text_encoding,
)

HEAD_BYTES = 512  # what is kept of a download's beginning to look at
# Formats whose files never begin with text like "<html": every one faxd sends but text
# and pages, and those only a sender's own system sends by Direct File Transfer.
_BINARY_NAMES = (
    *(f".{ext}" for ext, mime in PRIMARY_MIME.items() if mime not in (TEXT, HTML)),
    ".rtf",
    ".odt",
    ".ods",
    ".odp",
)
_PAGE_STARTS = (b"<!doctype html", b"<html")
# Too weak a guess to rename a file for: text may be anything, and PCX is told by four
# bytes of any value.
_NOT_RENAMED_FOR = (TEXT, HTML, PCX)


def unusable_download(size: int, head: bytes, name: str, *, rendered: bool) -> str | None:
    """Why the file downloaded for `name` is not the document (None: it may well be).
    `rendered`: a fax, whose file the provider rendered (a PDF or TIFF), not the sender's."""
    if size == 0:
        return "the provider sent an empty file"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(_PAGE_STARTS) and (rendered or name.lower().endswith(_BINARY_NAMES)):
        return "the provider sent a web page instead of the file"
    return None


def named_for_content(name: str, head: bytes) -> str:
    """`name` made safe, with the extension of its bytes where faxd recognises them and
    the name says otherwise: Windows opens a file by its extension, so a TIFF called .pdf
    opens in the PDF reader, which cannot read it, and a PDF called .exe would be run."""
    safe = safe_component(name)
    if not head.startswith(b"%PDF-") and text_encoding(head) is not None:
        # A signature of two letters ("BM" of a bitmap) begins many a text: a CSV of
        # "BMW,…" rows is no image.
        return safe
    ext = extension_of(safe)
    mime = sniff_mime(head, ext)
    right = extension_for(mime) if mime is not None and mime not in _NOT_RENAMED_FOR else None
    if right is None or mime in KNOWN_TYPES.get(ext, ()):
        return safe
    stem = safe[: -len(ext) - 1] if ext in KNOWN_TYPES else safe
    return safe_component(f"{stem}.{right}")
