"""Print-to-fax end to end: the real daemon against the sandbox, with real Ghostscript."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from faxd.core.print_clues import UEL
from faxd.sandbox.server import SandboxServer
from tests.e2e.harness import Faxd
from tests.printing.conftest import needs, postscript_pages, real_pdf


def uploaded(sandbox: SandboxServer, report: dict[str, Any]) -> tuple[str, bytes]:
    """The name and bytes the sandbox received for the report's first recipient."""
    record = sandbox.state.docs_records[report["recipients"][0]["id"]]
    [stored] = record.files
    assert stored.blob is not None
    # faxd adds its transmission token to every upload name (so a lost answer can be
    # told apart from another document's upload): compare the name the office gave.
    return untokened(stored.name), b"".join(stored.blob.chunks())


def untokened(name: str) -> str:
    return re.sub(r"_fx[a-z2-7]{10}(?=[._-]|$)", "", name)


def explain(faxd: Faxd, path: Path) -> dict[str, str]:
    faxd.write_config()
    done = subprocess.run(
        [sys.executable, "-m", "faxd", "explain", str(path), "--config", str(faxd.config_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    lines = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(":")
        lines[key.strip()] = value.strip()
    return lines


def pjl_postscript(ps: bytes, *lines: str) -> bytes:
    head = b"".join(f"@PJL {line}\r\n".encode() for line in lines)
    return (
        UEL
        + b"@PJL\r\n"
        + head
        + b"@PJL ENTER LANGUAGE=POSTSCRIPT\r\n"
        + ps
        + UEL
        + b"@PJL EOJ\r\n"
    )


@needs("gs")
def test_postscript_with_pjl_header_is_addressed_converted_and_filed_as_printed(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    original = pjl_postscript(
        postscript_pages(["Invoice 4711", "Total 100 SEK"], ["Terms"]),
        'JOB NAME="invoice.doc"',
        'SET FAXNUMBER="08-123 456 78"',
    )
    path = faxd.spool / "invoice.prn"
    faxd.spool.mkdir(exist_ok=True)
    path.write_bytes(original)
    shown = explain(faxd, path)
    assert shown["rule"] == "PJL directives in the print job"
    assert shown["recipients"] == "+46812345678"
    assert shown["sent as"].startswith("invoice.pdf")
    path.unlink()
    faxd.start()
    faxd.drop("invoice.prn", original)
    report = faxd.report_for("invoice.prn")
    assert report["result"] == "delivered", report
    assert [r["number"] for r in report["recipients"]] == ["+46812345678"]
    name, data = uploaded(sandbox, report)
    assert name == "invoice.pdf"
    assert data.startswith(b"%PDF-")
    assert (faxd.sent / "invoice.prn").read_bytes() == original


@needs("gs")
def test_embedded_code_in_a_real_pdf_addresses_it(faxd: Faxd, sandbox: SandboxServer) -> None:
    faxd.start()
    staging = faxd.root / "staging"
    staging.mkdir()
    pdf = real_pdf(staging / "offer.pdf", ["Offer 17"], ["Prices"], ["Send to", "@@FAX Acme AB@@"])
    faxd.drop("offer.pdf", pdf.read_bytes())
    report = faxd.report_for("offer.pdf")
    assert report["result"] == "delivered", report
    assert [r["number"] for r in report["recipients"]] == ["+46812345678"]
    name, data = uploaded(sandbox, report)
    assert (name, data) == ("offer.pdf", pdf.read_bytes())


def test_text_file_code_line_is_removed_before_sending(faxd: Faxd, sandbox: SandboxServer) -> None:
    faxd.start()
    original = b"Order 9\n@@FAX +46 8 123 456 11@@\nTwo chairs\n"
    faxd.drop("order.txt", original)
    report = faxd.report_for("order.txt")
    assert report["result"] == "delivered", report
    assert [r["number"] for r in report["recipients"]] == ["+46812345611"]
    assert uploaded(sandbox, report) == ("order.txt", b"Order 9\nTwo chairs\n")
    assert (faxd.sent / "order.txt").read_bytes() == original


def test_file_name_pattern_addresses_files_in_its_folder(faxd: Faxd) -> None:
    faxd.overrides["name_pattern"] = r"^(?P<to>\+?\d[\d ]+)_"
    faxd.start()
    faxd.drop("+46812345678_invoice.pdf", b"%PDF-1.4\n%%EOF\n")
    report = faxd.report_for("+46812345678_invoice.pdf")
    assert report["result"] == "delivered", report
    assert [r["number"] for r in report["recipients"]] == ["+46812345678"]


def test_pcl_print_file_fails_with_a_report_that_says_so(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd.start()
    pcl = UEL + b"@PJL\r\n@PJL ENTER LANGUAGE=PCL\r\n\x1bE\x1b&l26AHello\x0c\x1bE" + UEL
    faxd.drop("+46812345678/letter.prn", pcl)
    report = faxd.report_for("letter.prn")
    assert report["result"] == "failed"
    assert "letter.prn holds PCL printer data, which faxd cannot convert" in report["error"]
    assert [(r["id"], r["attempts"]) for r in report["recipients"]] == [(None, 0)]  # not sent
    assert (faxd.failed / "+46812345678" / "letter.prn").read_bytes() == pcl
    assert sandbox.stats()["docs"]["accepted"] == 0
    assert "provider does not accept" not in report["error"]  # one reason, not two
