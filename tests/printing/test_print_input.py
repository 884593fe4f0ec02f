"""examine(): clues and the file to upload, with real Ghostscript and pypdf."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from faxd.core.print_clues import UEL
from faxd.printing.print_input import discard_work, examine
from faxd.settings import FolderSettings
from tests.settings_helpers import folder_settings

from .conftest import needs, postscript_pages, real_pdf


def folder(tmp_path: Path, **values: object) -> FolderSettings:
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    return folder_settings(spool, tmp_path, **values)


def pjl_wrapped(payload: bytes, *lines: str, language: str = "POSTSCRIPT") -> bytes:
    head = b"".join(f"@PJL {line}\r\n".encode() for line in lines)
    return (
        UEL
        + b"@PJL\r\n"
        + head
        + f"@PJL ENTER LANGUAGE={language}\r\n".encode()
        + payload
        + UEL
        + b"@PJL EOJ\r\n"
        + UEL
    )


def pdf_text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


@needs("gs")
def test_postscript_behind_pjl_is_converted_and_addressed_by_the_fax_directive(
    tmp_path: Path,
) -> None:
    spool = folder(tmp_path)
    ps = postscript_pages(["Invoice 4711"], ["Page two"])
    document = spool.path / "invoice.prn"
    original = pjl_wrapped(ps, 'JOB NAME="invoice"', 'SET FAXNUMBER="+46 8 123 456 78"')
    document.write_bytes(original)
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert found.problems == []
    assert [(c.rule, c.recipients) for c in found.clues] == [("pjl", "+46 8 123 456 78")]
    assert found.upload is not None and found.upload.name == "invoice.pdf"
    assert found.upload.is_relative_to(tmp_path / "work")
    assert pdf_text(found.upload) == ["Invoice 4711", "Page two"]
    assert document.read_bytes() == original  # the original is filed as it came
    assert found.ino == document.stat().st_ino


@needs("gs")
def test_converted_postscript_is_searched_for_an_embedded_code(tmp_path: Path) -> None:
    spool = folder(tmp_path)
    document = spool.path / "letter.ps"
    document.write_bytes(postscript_pages(["Dear customer"], ["@@FAX 08-123 456 11@@"]))
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert [(c.rule, c.recipients, c.source) for c in found.clues] == [
        ("embedded", "08-123 456 11", "embedded code on page 2")
    ]


@needs("gs")
def test_embedded_code_in_a_real_multi_page_pdf_is_found_on_its_page(tmp_path: Path) -> None:
    spool = folder(tmp_path)
    document = real_pdf(
        spool.path / "offer.pdf",
        ["Offer 17", "Valid 30 days"],
        ["Terms"],
        ["Contact us", "@@FAX +46 8 123 456 78@@"],
    )
    before = document.read_bytes()
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert [(c.rule, c.recipients, c.source) for c in found.clues] == [
        ("embedded", "+46 8 123 456 78", "embedded code on page 3")
    ]
    assert found.upload is None  # a PDF is sent as it is: the code stays on the page
    assert document.read_bytes() == before


@needs("gs")
def test_an_addressed_pdf_is_not_read_at_all(tmp_path: Path) -> None:
    spool = folder(tmp_path)
    document = real_pdf(spool.path / "a.pdf", ["@@FAX +46812345678@@"])
    found = examine(spool, document, tmp_path / "work", addressed=True)
    assert found.clues == []
    assert not (tmp_path / "work").exists()


def test_text_file_code_line_is_removed_from_the_copy_that_is_sent(tmp_path: Path) -> None:
    spool = folder(tmp_path)
    document = spool.path / "order.txt"
    document.write_bytes("Order 9\r\n@@FAX Acme AB@@\r\nMöbel\r\n".encode("cp1252"))
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert [(c.rule, c.recipients) for c in found.clues] == [("embedded", "Acme AB")]
    assert found.upload is not None and found.upload.name == "order.txt"
    assert found.upload.read_bytes() == "Order 9\r\nMöbel\r\n".encode("cp1252")
    assert b"@@FAX" in document.read_bytes()


def test_an_addressed_text_file_still_loses_its_code_line_but_gives_no_clue(
    tmp_path: Path,
) -> None:
    spool = folder(tmp_path)
    document = spool.path / "order.txt"
    document.write_text("\ufeff@@FAX +46812345678@@\nHello\n", encoding="utf-8")
    found = examine(spool, document, tmp_path / "work", addressed=True)
    assert found.clues == []
    assert found.upload is not None
    assert found.upload.read_bytes() == "\ufeffHello\n".encode()


def test_file_name_pattern_comes_first_and_stops_the_document_being_searched(
    tmp_path: Path,
) -> None:
    spool = folder(tmp_path, name_pattern=r"^(?P<to>\+?\d[\d ]+)_")
    document = spool.path / "+46812345611_order.txt"
    document.write_text("@@FAX +46812345678@@\nHello\n")
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert [(c.rule, c.recipients) for c in found.clues] == [("name", "+46812345611")]
    assert found.upload is not None and found.upload.read_text() == "Hello\n"


def test_embedded_code_off_leaves_text_alone(tmp_path: Path) -> None:
    spool = folder(tmp_path, embedded_code=None)
    document = spool.path / "order.txt"
    document.write_text("@@FAX +46812345678@@\n")
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert found.clues == [] and found.upload is None


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"\x1bE\x1b&l26A\x1b(s0p12h0s0b4099TInvoice\x0c\x1bE", "PCL"),
        (b") HP-PCL XL;2;0\r\n", "PCL XL (PCL 6)"),
    ],
)
def test_pcl_fails_with_a_message_saying_it_cannot_be_converted(
    tmp_path: Path, payload: bytes, kind: str
) -> None:
    spool = folder(tmp_path)
    document = spool.path / "invoice.prn"
    language = "PCLXL" if kind.startswith("PCL XL") else "PCL"
    document.write_bytes(pjl_wrapped(payload, 'SET FAXNUMBER="+46812345678"', language=language))
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert found.upload is None
    [problem] = found.problems
    assert problem.startswith(f"invoice.prn holds {kind} printer data")
    assert "cannot convert" in problem and "PostScript or PDF" in problem


def test_missing_ghostscript_is_a_clear_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    spool = folder(tmp_path)
    document = spool.path / "job.ps"
    document.write_bytes(postscript_pages(["x"]))
    found = examine(spool, document, tmp_path / "work", addressed=False)
    [problem] = found.problems
    assert "job.ps: PostScript needs Ghostscript" in problem
    assert "apt install ghostscript" in problem


@needs("gs")
def test_broken_postscript_fails_with_ghostscripts_reason(tmp_path: Path) -> None:
    spool = folder(tmp_path)
    document = spool.path / "broken.ps"
    document.write_bytes(b"%!PS\n/foo load showpage\n")
    found = examine(spool, document, tmp_path / "work", addressed=False)
    [problem] = found.problems
    assert problem.startswith("broken.ps: Ghostscript could not convert the PostScript to PDF")
    assert found.upload is None
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "work").rglob("*"))


def test_conversion_off_leaves_print_files_to_preflight(tmp_path: Path) -> None:
    spool = folder(tmp_path, convert_postscript=False)
    document = spool.path / "job.ps"
    document.write_bytes(postscript_pages(["x"]))
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert found.upload is None and found.problems == [] and found.clues == []


def test_discard_work_removes_only_the_jobs_print_folder(tmp_path: Path) -> None:
    spool = folder(tmp_path)
    document = spool.path / "order.txt"
    document.write_text("@@FAX +46812345678@@\nHello\n")
    work = tmp_path / "work"
    found = examine(spool, document, work, addressed=False)
    assert found.upload is not None
    other = work / "print-other"
    other.mkdir()
    files = [str(found.upload), str(document)]
    assert discard_work(files, work) == 1
    assert not found.upload.parent.exists()
    assert other.is_dir() and document.exists()


def test_a_damaged_pdf_is_not_searched_but_still_goes_to_preflight(tmp_path: Path) -> None:
    spool = folder(tmp_path)
    document = spool.path / "scan.pdf"
    document.write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\n"
        b"2 0 obj << /Resources << /Font << /F1 3 0 R >> >> >>\ntrailer<<>>\n"
    )
    found = examine(spool, document, tmp_path / "work", addressed=False)
    assert found.clues == [] and found.problems == [] and found.upload is None
    [note] = found.notes
    assert note.startswith("scan.pdf")
