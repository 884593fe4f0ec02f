"""A download that is empty, or a web page where the file cannot be one, is the provider
failing, not the received document."""

from __future__ import annotations

import pytest

from faxd.core.preflight import PRIMARY_MIME
from faxd.core.received_check import unusable_download

PAGE = b"\xef\xbb\xbf\n  <!DOCTYPE html><html><body>Please log in</body></html>"


@pytest.mark.parametrize(
    ("name", "rendered", "refused"),
    [
        ("fax.pdf", True, True),  # a fax the provider rendered is never a page
        ("scan.PCX", False, True),  # a format faxd sends: binary
        ("offer.odt", False, True),  # a format only Direct File Transfer brings
        ("letter.rtf", False, True),
        ("menu.html", False, False),  # the sender's own page
        ("order.txt", False, False),
        ("notes", False, False),
    ],
)
def test_a_web_page_is_refused_only_where_the_file_cannot_be_one(
    name: str, rendered: bool, refused: bool
) -> None:
    problem = unusable_download(len(PAGE), PAGE[:512], name, rendered=rendered)
    assert (problem is not None) == refused
    if refused:
        assert problem == "the provider sent a web page instead of the file"


@pytest.mark.parametrize("ext", sorted(PRIMARY_MIME))
def test_every_format_faxd_sends_but_text_and_pages_is_binary(ext: str) -> None:
    problem = unusable_download(len(PAGE), PAGE, f"received.{ext}", rendered=False)
    assert (problem is None) == (ext in ("txt", "htm", "html"))


def test_an_empty_file_is_refused_whatever_its_name() -> None:
    assert unusable_download(0, b"", "menu.html", rendered=False) == (
        "the provider sent an empty file"
    )
    assert unusable_download(7, b"%PDF-1.", "fax.pdf", rendered=True) is None
