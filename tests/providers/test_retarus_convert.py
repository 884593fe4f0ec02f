"""Conversion to PDF for Retarus: images without loss, office documents via LibreOffice."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from faxd.errors import RejectedError
from faxd.model import Limits, OutgoingFile
from faxd.providers.convert import find_soffice, image_to_pdf, office_to_pdf
from faxd.providers.retarus import RetarusProvider
from faxd.settings import RetarusProviderSettings, Secret

LIMITS = Limits(
    max_files=5,
    max_file_size=16 * 1024 * 1024,
    extensions={"pdf": frozenset({"application/pdf"})},
    convertible=frozenset({"png", "jpg", "jpeg", "gif", "bmp"}),
)


def provider(tmp_path: Path) -> RetarusProvider:
    settings = RetarusProviderSettings(
        name="retarus",
        customer_number="999901",
        username="faxd",
        password=Secret("sandbox-password"),
        submit_url="http://127.0.0.1:9/rest/v1",
        datacenter_urls=("http://127.0.0.1:9/rest/v1",),
    )
    return RetarusProvider(settings, workdir=tmp_path / "state", limits=LIMITS)


def pattern(mode: str, size: tuple[int, int] = (37, 23)) -> Image.Image:
    """An image whose every pixel differs from its neighbours, so loss would show."""
    image = Image.new("RGB", size)
    image.putdata(
        [
            ((x * 7) % 256, (y * 11) % 256, (x * y) % 256)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    if mode == "P":
        return image.quantize(colors=64)
    return image.convert(mode)


def embedded_image(pdf: Path) -> Image.Image:
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1
    [picture] = reader.pages[0].images
    assert picture.image is not None
    return picture.image


def as_rgb(image: Image.Image) -> list[tuple[int, ...]]:
    data = image.convert("RGB").tobytes()
    return [tuple(data[i : i + 3]) for i in range(0, len(data), 3)]


@pytest.mark.parametrize(
    ("fmt", "mode", "suffix"),
    [
        ("PNG", "RGB", "png"),
        ("PNG", "L", "png"),
        ("GIF", "P", "gif"),
        ("BMP", "RGB", "bmp"),
        ("PNG", "P", "png"),
    ],
)
def test_lossless_images_keep_every_pixel(tmp_path: Path, fmt: str, mode: str, suffix: str) -> None:
    source = tmp_path / f"scan.{suffix}"
    original = pattern(mode)
    original.save(source, fmt)
    dest = tmp_path / "scan.pdf"
    image_to_pdf(source, dest)
    assert dest.read_bytes().startswith(b"%PDF-")
    with Image.open(source) as written:
        assert as_rgb(embedded_image(dest)) == as_rgb(written)


def test_jpeg_is_embedded_unchanged(tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    pattern("RGB").save(source, "JPEG", quality=80)
    dest = tmp_path / "photo.pdf"
    image_to_pdf(source, dest)
    # img2pdf copies the JPEG stream as it is: no second lossy compression.
    assert source.read_bytes() in dest.read_bytes()


def test_transparency_is_laid_on_white(tmp_path: Path) -> None:
    source = tmp_path / "logo.png"
    image = Image.new("RGBA", (4, 2), (0, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))
    image.save(source, "PNG")
    dest = tmp_path / "logo.pdf"
    image_to_pdf(source, dest)
    pixels = as_rgb(embedded_image(dest))
    assert pixels[0] == (255, 0, 0)
    assert set(pixels[1:]) == {(255, 255, 255)}
    assert b"/SMask" not in dest.read_bytes()


def test_large_images_are_shrunk_onto_a4(tmp_path: Path) -> None:
    source = tmp_path / "wide.png"
    Image.new("L", (4000, 1000), 255).save(source, "PNG", dpi=(72, 72))
    dest = tmp_path / "wide.pdf"
    image_to_pdf(source, dest)
    box = PdfReader(dest).pages[0].mediabox
    # Landscape A4: 842 x 595 pt.
    assert round(float(box.width)) == 842
    assert round(float(box.height)) == 595


def test_a_broken_image_is_refused_with_its_name(tmp_path: Path) -> None:
    source = tmp_path / "broken.png"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + zlib.compress(b"nonsense"))
    with pytest.raises(RejectedError, match=r"broken\.png: the image could not be converted"):
        image_to_pdf(source, tmp_path / "broken.pdf")


def test_docx_without_libreoffice_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    source = tmp_path / "letter.docx"
    source.write_bytes(b"PK\x03\x04 not really a document")
    with pytest.raises(RejectedError) as caught:
        office_to_pdf(source, tmp_path / "letter.pdf")
    text = str(caught.value)
    assert "letter.docx" in text
    assert "apt install libreoffice-writer-nogui" in text
    sheet = tmp_path / "numbers.xlsx"
    sheet.write_bytes(b"PK")
    with pytest.raises(RejectedError, match="libreoffice-calc-nogui"):
        office_to_pdf(sheet, tmp_path / "numbers.pdf")


def fake_soffice(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir()
    path = bin_dir / "soffice"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_libreoffice_is_called_headless_with_a_private_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in soffice that records its arguments and writes OUTDIR/STEM.pdf like the real one.
    log = tmp_path / "args.txt"
    fake_soffice(
        tmp_path / "bin",
        f'printf "%s\\n" "$@" > {log}\n'
        'while [ "$1" != "--outdir" ]; do shift; done\n'
        'out="$2"; src="$3"; stem=$(basename "$src"); stem="${stem%.*}"\n'
        'printf "%%PDF-1.4 converted" > "$out/$stem.pdf"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    source = tmp_path / "Brief an Müller.odt"
    source.write_bytes(b"PK")
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "Brief an Müller.odt.pdf"
    office_to_pdf(source, dest, profile_dir=tmp_path / "profile")
    assert dest.read_bytes() == b"%PDF-1.4 converted"
    # LibreOffice's own output directory is gone; only the PDF remains.
    assert [p.name for p in work.iterdir()] == [dest.name]
    args = log.read_text().splitlines()
    assert "--headless" in args
    assert args[args.index("--convert-to") + 1] == "pdf"
    assert f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}" in args


def test_libreoffice_failure_is_a_clear_rejection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_soffice(tmp_path / "bin", 'echo "Error: source file could not be loaded" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    source = tmp_path / "bad.doc"
    source.write_bytes(b"junk")
    with pytest.raises(
        RejectedError, match=r"bad\.doc: LibreOffice could not convert it.*could not be loaded"
    ):
        office_to_pdf(source, tmp_path / "bad.pdf")
    assert not (tmp_path / "bad.pdf").exists()


def test_libreoffice_that_hangs_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_soffice(tmp_path / "bin", "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    source = tmp_path / "slow.rtf"
    source.write_bytes(b"{\\rtf1}")
    with pytest.raises(RejectedError, match=r"slow\.rtf: LibreOffice did not finish"):
        office_to_pdf(source, tmp_path / "slow.pdf", timeout=0.5)


# --- prepare ---------------------------------------------------------------------------


def outgoing(path: Path, mime: str) -> OutgoingFile:
    return OutgoingFile(path, path.name, mime, path.stat().st_size)


def test_prepare_converts_images_and_keeps_native_formats(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    png = spool / "Scan vom 3. März.png"
    pattern("RGB").save(png, "PNG")
    pdf = spool / "Scan vom 3. März.pdf"
    pdf.write_bytes(b"%PDF-1.4 original")
    text = spool / "note.TXT"
    text.write_text("hello")
    sender = provider(tmp_path)
    try:
        prepared = sender.prepare(
            [
                outgoing(png, "image/png"),
                outgoing(pdf, "application/pdf"),
                outgoing(text, "text/plain"),
            ],
            tmp_path / "work",
        )
    finally:
        sender.close()
    converted, kept, note = prepared
    assert converted.path.parent == tmp_path / "work"
    assert converted.path.suffix == ".pdf"
    assert converted.mime == "application/pdf"
    assert converted.size == converted.path.stat().st_size
    assert converted.path.read_bytes().startswith(b"%PDF-")
    # Names are Retarus-safe and unique within the job, the original keeps its path.
    assert converted.name == "Scan_vom_3._Marz.pdf"
    assert kept.path == pdf and kept.name == "Scan_vom_3._Marz_2.pdf"
    assert note.path == text and note.name == "note.txt"
    # The source image is left where it was.
    assert png.exists()


def test_prepare_reuses_its_conversion_until_the_source_changes(tmp_path: Path) -> None:
    png = tmp_path / "scan.png"
    pattern("RGB").save(png, "PNG")
    sender = provider(tmp_path)
    try:
        [first] = sender.prepare([outgoing(png, "image/png")], tmp_path / "work")
        made = first.path.stat().st_mtime_ns
        [again] = sender.prepare([outgoing(png, "image/png")], tmp_path / "work")
        assert again == first
        assert again.path.stat().st_mtime_ns == made
        assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["scan.png.pdf"]
        pattern("L", (60, 60)).save(png, "PNG")
        os.utime(png, ns=(made + 1_000_000_000, made + 1_000_000_000))
        [changed] = sender.prepare([outgoing(png, "image/png")], tmp_path / "work")
    finally:
        sender.close()
    assert changed.path == first.path
    assert as_rgb(embedded_image(changed.path)) == as_rgb(pattern("L", (60, 60)))


def test_prepare_refuses_what_cannot_be_converted(tmp_path: Path) -> None:
    odd = tmp_path / "drawing.svg"
    odd.write_text("<svg/>")
    sender = provider(tmp_path)
    try:
        with pytest.raises(RejectedError, match=r"drawing\.svg: Retarus does not take \.svg"):
            sender.prepare([outgoing(odd, "image/svg+xml")], tmp_path / "work")
    finally:
        sender.close()


def test_prepare_refuses_a_conversion_that_grows_too_large(tmp_path: Path) -> None:
    source = tmp_path / "noise.bmp"
    Image.effect_noise((300, 300), 100).convert("RGB").save(source, "BMP")
    settings = provider(tmp_path)._settings
    small = Limits(max_files=5, max_file_size=10_000, extensions={})
    sender = RetarusProvider(settings, limits=small)
    try:
        with pytest.raises(RejectedError, match=r"noise\.bmp: converted to PDF it is [\d,]+ bytes"):
            sender.prepare([outgoing(source, "image/bmp")], tmp_path / "work")
    finally:
        sender.close()


def minimal_docx(path: Path, text: str) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
            '2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        archive.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>",
        )


@pytest.mark.slow
@pytest.mark.skipif(find_soffice() is None, reason="LibreOffice (soffice) is not installed")
def test_real_libreoffice_converts_a_docx(tmp_path: Path) -> None:
    source = tmp_path / "Brief an Müller.docx"
    minimal_docx(source, "Hallo Herr Müller")
    sender = provider(tmp_path)
    try:
        [prepared] = sender.prepare(
            [outgoing(source, "application/vnd.openxmlformats-officedocument")],
            tmp_path / "work",
        )
    finally:
        sender.close()
    assert prepared.name == "Brief_an_Muller.pdf"
    assert prepared.path == tmp_path / "work" / "Brief an Müller.docx.pdf"
    assert "Hallo Herr Müller" in PdfReader(prepared.path).pages[0].extract_text()
    # The persistent profile lives under the provider's workdir, not in the job's.
    assert (tmp_path / "state" / "libreoffice-profile").is_dir()
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [prepared.path.name]


@pytest.mark.parametrize("length", [251, 255])
def test_an_image_whose_name_is_near_name_max_is_converted(tmp_path: Path, length: int) -> None:
    # NAME.pdf (and its temporary name) would be longer than a file name may be.
    png = tmp_path / ("s" * (length - 7) + "end.png")
    pattern("RGB").save(png, "PNG")
    sender = provider(tmp_path)
    try:
        [made] = sender.prepare([outgoing(png, "image/png")], tmp_path / "work")
    finally:
        sender.close()
    assert made.path.is_file() and made.path.read_bytes().startswith(b"%PDF-")
    assert len(made.path.name.encode()) <= 255
    assert made.path.name.endswith("end.png.pdf")
