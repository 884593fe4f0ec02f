"""Whether a downloaded file can be the received document, or is the provider failing.

A provider (or a proxy in front of it) that answers 200 with an empty body or with a web
page (a login form, an error page) has not sent the document: saved, it would lie in the
inbox as a fax nobody can open, and with `delete_after_download` the real one would be
deleted at the provider. A file sent by Direct File Transfer is the sender's own and may be
text that begins like a page (the source of one, in a `.txt`): a page counts only where
the file cannot be one, a fax the provider rendered or a name of a binary format."""

from __future__ import annotations

from faxd.core.preflight import HTML, PRIMARY_MIME, TEXT

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


def unusable_download(size: int, head: bytes, name: str, *, rendered: bool) -> str | None:
    """Why the file downloaded for `name` is not the document (None: it may well be).
    `rendered`: a fax, whose file the provider rendered (a PDF or TIFF), not the sender's."""
    if size == 0:
        return "the provider sent an empty file"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(_PAGE_STARTS) and (rendered or name.lower().endswith(_BINARY_NAMES)):
        return "the provider sent a web page instead of the file"
    return None
