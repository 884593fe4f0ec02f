"""Whether a downloaded file can be the received document, or is the provider failing.

A provider (or a proxy in front of it) that answers 200 with an empty body or with a web
page (a login form, an error page) has not sent the document: saved, it would lie in the
inbox as a fax nobody can open, and with `delete_after_download` the real one would be
deleted at the provider. A sender's own HTML file sent by Direct File Transfer is a
document like any other, so a page counts only under a name that is not a web page's."""

from __future__ import annotations

HEAD_BYTES = 512  # what is kept of a download's beginning to look at
_PAGE_NAMES = (".htm", ".html", ".xhtml")
_PAGE_STARTS = (b"<!doctype html", b"<html")


def unusable_download(size: int, head: bytes, name: str) -> str | None:
    """Why the file downloaded for `name` is not the document (None: it may well be)."""
    if size == 0:
        return "the provider sent an empty file"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(_PAGE_STARTS) and not name.lower().endswith(_PAGE_NAMES):
        return "the provider sent a web page instead of the file"
    return None
