"""Every conversion is bounded: an image that declares more pixels or frames than a fax
page needs is refused from its header, before a byte of it is decoded, and converters
read only through a descriptor that followed no link."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxd.errors import PreflightError, RejectedError
from faxd.printing.postscript import find_ghostscript, postscript_to_pdf
from faxd.providers.convert import MAX_IMAGE_PIXELS, image_to_pdf, image_to_png
from tests.image_bombs import png_bomb


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    source = tmp_path / "bomb.png"
    source.write_bytes(png_bomb())
    assert source.stat().st_size < 1024 * 1024
    with pytest.raises(RejectedError, match=r"13000 x 13000 pixels, more than the 40 million"):
        image_to_pdf(source, tmp_path / "bomb.pdf")
    with pytest.raises(RejectedError, match="pixels"):
        image_to_png(source, tmp_path / "bomb.out.png")
    assert not (tmp_path / "bomb.pdf").exists()


def test_an_image_within_the_bound_is_converted(tmp_path: Path) -> None:
    source = tmp_path / "page.png"
    source.write_bytes(png_bomb(2000, 2800))  # A4 at 240 dpi
    assert MAX_IMAGE_PIXELS > 2000 * 2800
    image_to_pdf(source, tmp_path / "page.pdf")
    assert (tmp_path / "page.pdf").read_bytes().startswith(b"%PDF")


def test_an_image_converter_does_not_follow_a_link(tmp_path: Path) -> None:
    private = tmp_path / "private.png"
    private.write_bytes(png_bomb(10, 10))
    link = tmp_path / "scan.png"
    link.symlink_to(private)
    with pytest.raises(RejectedError, match="symbolic link"):
        image_to_pdf(link, tmp_path / "scan.pdf")


@pytest.mark.skipif(find_ghostscript() is None, reason="Ghostscript is not installed")
def test_ghostscript_reads_the_program_through_a_descriptor(tmp_path: Path) -> None:
    program = tmp_path / "job.ps"
    program.write_text(
        "%!PS\n/Helvetica findfont 12 scalefont setfont 72 720 moveto (Hi) show showpage\n"
    )
    postscript_to_pdf(program, tmp_path / "job.pdf", "job.ps")
    assert (tmp_path / "job.pdf").read_bytes().startswith(b"%PDF")
    link = tmp_path / "link.ps"
    link.symlink_to(program)
    with pytest.raises(PreflightError, match="symbolic link"):
        postscript_to_pdf(link, tmp_path / "link.pdf", "link.ps")
