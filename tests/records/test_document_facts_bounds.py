"""A decompression bomb filed in failed/ must not be decoded to draw its first page."""

from __future__ import annotations

from pathlib import Path

from faxd.records.document_facts import facts
from tests.image_bombs import png_bomb


def test_a_huge_image_gets_no_drawn_first_page(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    found = facts(bomb)
    assert found.first_page is None
    assert found.why_no_image == "the image is too large to draw"
    assert found.sha256 is not None


def test_a_page_sized_image_is_drawn(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    page.write_bytes(png_bomb(1000, 1400))
    assert facts(page).first_page is not None
