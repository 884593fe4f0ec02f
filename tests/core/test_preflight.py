from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from faxd.core.preflight import (
    DOCX,
    HEAD_SIZE,
    MIB,
    PPTX,
    TAIL_SIZE,
    XLSX,
    FileFacts,
    check_file,
    check_files,
    extension_of,
    mime_for_upload,
    sniff_mime,
    text_encoding,
)
from faxd.model import Limits
from faxd.providers.docs_type import DOCS_LIMITS
from faxd.providers.retarus_type import RETARUS_LIMITS

PDF_BYTES = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def facts(name: str, data: bytes, size: int | None = None) -> FileFacts:
    return FileFacts(
        name=name,
        size=len(data) if size is None else size,
        head=data[:HEAD_SIZE],
        tail=data[-TAIL_SIZE:],
    )


def image(fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, fmt, **options)
    return out.getvalue()


def ooxml(*parts: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in parts:
            archive.writestr(part, "<x/>" * 100)
    return out.getvalue()


def ole(marker: bytes) -> bytes:
    return OLE + b"\0" * (512 - len(OLE)) + marker + b"\0" * 2048


WORD = ooxml("[Content_Types].xml", "_rels/.rels", "word/document.xml")
EXCEL = ooxml("[Content_Types].xml", "_rels/.rels", "xl/workbook.xml")
POWERPOINT = ooxml("[Content_Types].xml", "_rels/.rels", "ppt/presentation.xml")
DOC_BYTES = ole(b"\xec\xa5\xc1\x00")
XLS_BYTES = ole(b"\x09\x08\x10\x00\x00\x06\x05\x00")
PPT_BYTES = ole(b"\xa0\x46\x1d\xf0")


@pytest.mark.parametrize(
    ("data", "ext", "mime"),
    [
        (PDF_BYTES, "pdf", "application/pdf"),
        (b"\x1b%-12345X@PJL\n" + PDF_BYTES, "pdf", "application/pdf"),
        (image("PNG"), "png", "image/png"),
        (image("JPEG"), "jpg", "image/jpeg"),
        (image("JPEG", progressive=True), "jpeg", "image/jpeg"),
        (image("GIF"), "gif", "image/gif"),
        (image("BMP"), "bmp", "image/bmp"),
        (image("TIFF"), "tif", "image/tiff"),
        (image("TIFF", compression="tiff_lzw"), "tiff", "image/tiff"),
        (image("PCX"), "pcx", "image/vnd.zbrush.pcx"),
        (WORD, "docx", DOCX),
        (EXCEL, "xlsx", XLSX),
        (POWERPOINT, "pptx", PPTX),
        (DOC_BYTES, "doc", "application/msword"),
        (XLS_BYTES, "xls", "application/vnd.ms-excel"),
        (PPT_BYTES, "ppt", "application/vnd.ms-powerpoint"),
        (b"Hello,\r\nthis is a letter.\f\n", "txt", "text/plain"),
        ("Räksmörgås\n".encode(), "txt", "text/plain"),
        ("Räksmörgås\n".encode("cp1252"), "txt", "text/plain"),
        ("\ufeffHello".encode("utf-16"), "txt", "text/plain"),
        (b"BMW invoice 4711\n", "txt", "text/plain"),
        (b"see %PDF-1.4 for details\n", "txt", "text/plain"),
        (b"<!DOCTYPE html><html><body>Hi</body></html>", "html", "text/html"),
        (b"<p>Just a fragment</p>", "htm", "text/html"),
        (b"no markup at all", "html", "text/plain"),
        (b"<html><body>source</body></html>", "txt", "text/plain"),
        (b"\n  <!-- c --> <HTML lang=sv>", "xyz", "text/html"),
        (b"\x00\x01\x02\x03" * 100, "bin", None),
        (b"", "pdf", None),
    ],
)
def test_sniff_mime(data: bytes, ext: str, mime: str | None) -> None:
    assert sniff_mime(data[:HEAD_SIZE], ext) == mime


def test_ooxml_kind_found_beyond_the_first_entries() -> None:
    # LibreOffice and others put several parts before word/; filetype gives up there.
    late = ooxml(
        "[Content_Types].xml", "_rels/.rels", "docProps/app.xml", "docProps/core.xml",
        "customXml/item1.xml", "word/document.xml",
    )  # fmt: skip
    assert sniff_mime(late, "docx") == DOCX
    assert sniff_mime(late, "xlsx") == DOCX  # the content decides, not the name


def test_ooxml_of_unknown_kind_takes_the_extension_only_for_office_names() -> None:
    unknown = ooxml("[Content_Types].xml", "_rels/.rels")
    assert sniff_mime(unknown, "xlsx") == XLSX
    assert sniff_mime(unknown, "pdf") == "application/zip"
    assert sniff_mime(ooxml("readme.txt"), "docx") == "application/zip"


def test_presentation_embedding_a_workbook_is_a_presentation() -> None:
    deck = ooxml(
        "[Content_Types].xml", "_rels/.rels", "docProps/app.xml", "docProps/core.xml",
        "customXml/item1.xml", "ppt/presentation.xml", "ppt/embeddings/xl/sheet.xml",
    )  # fmt: skip
    assert sniff_mime(deck, "pptx") == PPTX


def test_opendocument_is_not_mistaken_for_office_open_xml() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<x/>")
    assert only_problem("letter.docx", out.getvalue()) == (
        "letter.docx: its content is an OpenDocument text (.odt), not a Word document (.docx); "
        "save it as a Word document (.docx)."
    )


def test_unclassified_ole_file_takes_its_office_extension() -> None:
    generic = ole(b"\xff" * 8)
    assert sniff_mime(generic, "xls") == "application/vnd.ms-excel"
    assert sniff_mime(generic, "docx") == "application/x-ole-storage"


def test_text_encoding() -> None:
    assert text_encoding(b"plain ascii") == "UTF-8"
    assert text_encoding("åäö".encode()[:-1]) == "UTF-8"  # cut mid-character at 8 KiB
    assert text_encoding("åäö".encode("cp1252")) == "Windows-1252"
    assert text_encoding("hej".encode("utf-16")) == "UTF-16"
    assert text_encoding(b"a\0b") is None
    assert text_encoding(b"\x01\x02\x03 mostly control") is None


def test_mime_for_upload_is_sniffed_not_guessed_from_the_name() -> None:
    assert mime_for_upload(facts("scan.pdf", PDF_BYTES)) == "application/pdf"
    assert mime_for_upload(facts("photo.png", image("JPEG"))) == "image/jpeg"
    assert mime_for_upload(facts("blob.bin", b"\x00\x01\x02" * 50)) == "application/octet-stream"


def test_extension_of() -> None:
    assert extension_of("Scan.PDF") == "pdf"
    assert extension_of("archive.tar.gz") == "gz"
    assert extension_of("README") == ""
    assert extension_of(".pdf") == ""


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.pdf", PDF_BYTES),
        ("a.docx", WORD),
        ("a.xlsx", EXCEL),
        ("a.pptx", POWERPOINT),
        ("a.doc", DOC_BYTES),
        ("a.xls", XLS_BYTES),
        ("a.ppt", PPT_BYTES),
        ("a.png", image("PNG")),
        ("a.JPG", image("JPEG")),
        ("a.gif", image("GIF")),
        ("a.bmp", image("BMP")),
        ("a.tiff", image("TIFF")),
        ("a.pcx", image("PCX")),
        ("a.txt", b"Hello\n"),
    ],
)
def test_docs_accepts_its_documented_formats(name: str, data: bytes) -> None:
    assert check_files([facts(name, data)], DOCS_LIMITS) == []


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.pdf", PDF_BYTES),
        ("a.tif", image("TIFF")),
        ("a.txt", b"Hello\n"),
        ("a.html", b"<html><body>Hi</body></html>"),
        ("a.htm", b"<p>Hi</p>"),
        ("a.png", image("PNG")),  # converted to PDF by the provider adapter
        ("a.jpeg", image("JPEG")),
        ("a.gif", image("GIF")),
        ("a.bmp", image("BMP")),
    ],
)
def test_retarus_accepts_its_formats_and_convertible_images(name: str, data: bytes) -> None:
    assert check_files([facts(name, data)], RETARUS_LIMITS) == []


def only_problem(name: str, data: bytes, limits: Limits = DOCS_LIMITS, **kw: int) -> str:
    problems = check_file(facts(name, data, **kw), limits)
    assert len(problems) == 1, problems
    assert name in problems[0]
    return problems[0]


def test_empty_file() -> None:
    assert only_problem("scan.pdf", b"") == "scan.pdf is empty (0 bytes); nothing to send."


def test_file_over_the_size_limit() -> None:
    problem = only_problem("big.pdf", PDF_BYTES, size=16 * MIB + 1)
    assert problem.startswith(
        "big.pdf is 16,777,217 bytes (16.8 MB), over the provider's limit of "
        "16,000,000 bytes (16.0 MB) per file"
    )


def test_16_mb_is_read_as_decimal_and_sizes_are_shown_exactly() -> None:
    # "16 MB" may mean 16,000,000 bytes: a file between that and 16 MiB may be refused.
    problem = only_problem("big.pdf", PDF_BYTES, size=16_000_001)
    assert "16,000,001 bytes" in problem
    assert "16,000,000 bytes" in problem
    assert only_problem("big.pdf", PDF_BYTES, size=16 * MIB)


def test_file_at_the_size_limit_is_fine() -> None:
    assert check_file(facts("ok.pdf", PDF_BYTES, size=16_000_000), DOCS_LIMITS) == []
    assert check_file(facts("ok.pdf", PDF_BYTES, size=16_000_000), RETARUS_LIMITS) == []


def test_extension_not_accepted() -> None:
    problem = only_problem("letter.odt", b"whatever")
    assert "the provider does not accept '.odt' files" in problem
    assert "docx" in problem


def test_retarus_passes_office_files_on_to_conversion_but_refuses_others() -> None:
    # A .docx is converted by the provider (LibreOffice) or refused there with a hint.
    assert check_files([facts("a.docx", WORD)], RETARUS_LIMITS) == []
    problem = only_problem("a.odg", b"PK\x03\x04 drawing", RETARUS_LIMITS)
    assert "does not accept '.odg' files" in problem
    assert "docx, gif, htm, html, jpeg, jpg, pcx, pdf" in problem


def test_no_extension() -> None:
    assert "has no file name extension" in only_problem("scan", PDF_BYTES)


def test_pdf_without_magic() -> None:
    problem = only_problem("scan.pdf", b"this is not a pdf\n" * 10)
    assert problem == (
        "scan.pdf does not start with '%PDF-', so it is not a PDF; it looks like plain text."
    )


def test_pdf_that_is_an_image() -> None:
    assert "it looks like a JPEG image" in only_problem("scan.pdf", image("JPEG"))


def test_png_that_is_a_jpeg() -> None:
    assert only_problem("photo.png", image("JPEG")) == (
        "photo.png: its content is a JPEG image, not a PNG image; rename it to .jpg."
    )


def test_retarus_image_of_another_kind_may_simply_be_renamed() -> None:
    problem = only_problem("logo.png", image("GIF"), RETARUS_LIMITS)
    assert problem.endswith("not a PNG image; rename it to .gif.")


def test_no_rename_advice_towards_a_refused_extension() -> None:
    problem = only_problem("scan.tif", image("PNG"), RETARUS_LIMITS)
    assert problem.endswith("rename it to .png.")  # converted, so accepted
    problem = only_problem("scan.tif", b"%!PS-Adobe-3.0\n", RETARUS_LIMITS)
    assert "rename" not in problem


def test_docx_that_is_an_old_word_file() -> None:
    assert "its content is a Word document (.doc), not a Word document (.docx)" in only_problem(
        "letter.docx", DOC_BYTES
    )


def test_unrecognisable_content() -> None:
    assert only_problem("a.png", b"\x00\x01\x02\x03" * 64) == (
        "a.png: its content is not a PNG image (no file signature faxd knows); "
        "save it again in that format."
    )


def test_encrypted_pdf() -> None:
    data = PDF_BYTES.replace(b"trailer\n", b"trailer\n<< /Encrypt 5 0 R >>\n")
    assert "is encrypted (password-protected)" in only_problem("secret.pdf", data)


def test_encrypted_linearized_pdf_names_encrypt_near_the_start() -> None:
    first_page_trailer = b"<< /Linearized 1 >> trailer << /Encrypt 9 0 R >>\n"
    data = PDF_BYTES[:9] + first_page_trailer + b" " * 9000 + PDF_BYTES[9:]
    assert "is encrypted" in only_problem("secret.pdf", data)


def test_truncated_pdf() -> None:
    data = PDF_BYTES + b"0" * 5000
    assert "is incomplete: it does not end with '%%EOF'" in only_problem("cut.pdf", data)


def test_encrypted_and_truncated_pdf_gives_both_reasons() -> None:
    data = b"%PDF-1.4\n<< /Encrypt 5 0 R >>\n" + b"x" * 100
    assert len(check_file(facts("bad.pdf", data), DOCS_LIMITS)) == 2


def test_text_with_nul_bytes() -> None:
    assert only_problem("report.txt", b"abc\0def") == (
        "report.txt contains NUL bytes, so it is not plain text; check the program that wrote it."
    )
    tail_nul = b"a" * 20_000 + b"\0"
    assert "NUL bytes" in only_problem("report.txt", tail_nul)


def test_utf16_text_is_not_refused_for_its_nul_bytes() -> None:
    assert check_file(facts("note.txt", "Hallå".encode("utf-16")), DOCS_LIMITS) == []


def test_too_many_files() -> None:
    files = [facts(f"f{i}.pdf", PDF_BYTES) for i in range(6)]
    assert check_files(files, DOCS_LIMITS) == [
        "f0.pdf: 6 files in one transmission (the document and its attachments), "
        "but the provider takes at most 5."
    ]


def test_duplicate_names() -> None:
    files = [facts("a.pdf", PDF_BYTES), facts("A.PDF", PDF_BYTES)]
    assert check_files(files, DOCS_LIMITS) == [
        "A.PDF appears twice in one transmission; attach each file once."
    ]


def test_every_problem_at_once() -> None:
    files = [
        facts("invoice.pdf", b"nope"),
        facts("terms.pdf", b""),
        facts("logo.png", image("GIF")),
        facts("notes.odt", b"x"),
    ]
    problems = check_files(files, DOCS_LIMITS)
    assert [p.split(" ")[0].rstrip(":") for p in problems] == [
        "invoice.pdf",
        "terms.pdf",
        "logo.png",
        "notes.odt",
    ]


def test_limits_tables() -> None:
    assert DOCS_LIMITS.max_files == 5
    assert DOCS_LIMITS.max_file_size == 16_000_000
    assert set(DOCS_LIMITS.extensions) == {
        *("bmp", "doc", "docx", "gif", "jpg", "jpeg", "pcx", "pdf", "png"),
        *("ppt", "pptx", "txt", "tif", "tiff", "xls", "xlsx"),
    }
    assert "image/pjpeg" in DOCS_LIMITS.extensions["jpg"]
    assert set(RETARUS_LIMITS.extensions) == {"pdf", "tif", "tiff", "txt", "html", "htm"}
    assert RETARUS_LIMITS.convertible == {
        *("png", "jpg", "jpeg", "gif", "bmp", "pcx"),
        *("doc", "docx", "xls", "xlsx", "ppt", "pptx"),
    }
