"""read_pdf_text: a PDF that names no font is not parsed, and one that hides its font
names (in object streams, or spelt with #xx escapes) is still read."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pikepdf
from pypdf import PdfWriter

from faxd.printing.pdf_text import read_pdf_text

from .conftest import needs, real_pdf

CODE = "@@FAX +46812345678@@"


def _hand_made(font_key: bytes) -> bytes:
    """A one-page PDF showing CODE in Helvetica, its resource key written as given."""
    stream = f"BT /F1 12 Tf 72 720 Td ({CODE}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << " + font_key + b" << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type " + font_key + b" /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\n".encode())
    out.write(f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _blank_scan(path: Path) -> Path:
    """A one-page PDF without text, as a scanner's image-only page is."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def test_a_pdf_naming_no_font_has_no_text_and_no_problem(tmp_path: Path) -> None:
    path = _blank_scan(tmp_path / "scan.pdf")
    assert b"/Font" not in path.read_bytes()
    assert read_pdf_text(path).pages == () and read_pdf_text(path).problem is None


def test_a_font_name_spelt_with_escapes_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "escaped.pdf"
    path.write_bytes(_hand_made(b"/F#6fnt"))
    assert b"/Font" not in path.read_bytes()
    text = read_pdf_text(path)
    assert text.problem is None and CODE in text.pages[0]


def test_the_plain_hand_made_pdf_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "plain.pdf"
    path.write_bytes(_hand_made(b"/Font"))
    assert CODE in read_pdf_text(path).pages[0]


@needs("gs")
def test_fonts_inside_object_streams_are_still_read(tmp_path: Path) -> None:
    source = real_pdf(tmp_path / "letter.pdf", ["Dear customer"], [CODE])
    packed = tmp_path / "packed.pdf"
    with pikepdf.open(source) as pdf:
        pdf.save(
            packed,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
            compress_streams=True,
        )
    assert b"/Font" not in packed.read_bytes()  # every font name sits in a compressed stream
    text = read_pdf_text(packed)
    assert text.problem is None and CODE in text.pages[1]


def test_a_scan_does_not_load_pypdf(tmp_path: Path) -> None:
    """pypdf (with fontTools and Pillow, about 20 MB) is loaded only for a PDF that may
    hold text: a daemon that only ever sees scans does not carry it."""
    scan, letter = _blank_scan(tmp_path / "scan.pdf"), tmp_path / "letter.pdf"
    letter.write_bytes(_hand_made(b"/Font"))
    probe = (
        "import sys; from pathlib import Path; from faxd.printing.pdf_text import read_pdf_text\n"
        "read_pdf_text(Path(sys.argv[1])); print('pypdf' in sys.modules)"
    )
    loaded = [
        subprocess.run(
            [sys.executable, "-c", probe, str(pdf)], capture_output=True, text=True, check=True
        ).stdout.strip()
        for pdf in (scan, letter)
    ]
    assert loaded == ["False", "True"]
