"""A folder routed to Retarus, end to end against the sandbox's HA and data-center URLs."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, pdf, wait_for

pytestmark = pytest.mark.slow


def retarus(sandbox: SandboxServer) -> dict[str, Any]:
    return dict(sandbox.stats()["retarus"])


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def docx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr(
            "word/document.xml",
            '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Hej</w:t></w:r></w:p>'
            "</w:body></w:document>",
        )
    return out.getvalue()


@pytest.fixture
def retarus_faxd(faxd: Faxd, tmp_path: Path) -> Faxd:
    scanner = tmp_path / "spool" / "scanner"
    faxd.folders = [
        {"path": str(tmp_path / "spool"), "provider": "retarus", "to": "+4930123456"},
    ]
    scanner.mkdir(parents=True)
    # No LibreOffice on the daemon's PATH: Office files must fail with a clear report.
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    faxd.env_extra["PATH"] = str(empty_bin)
    return faxd


def test_retarus_folder_sends_converts_and_reports(
    retarus_faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd = retarus_faxd
    faxd.start()
    faxd.drop("+4930123456/plain.pdf", pdf("retarus-plain"))
    faxd.drop("+4930123456/Rechnung Nr. 4711 für Müller GmbH & Co KG.pdf", pdf("rechnung"))
    faxd.drop("+4930123456/brief.txt", "Grüße aus Köln – Übermorgen\n".encode())
    faxd.drop("+4930123456/logo.png", png_bytes())
    faxd.drop("+4930123456/letter.docx", docx_bytes())
    faxd.drop("+4930123498/busy.pdf", pdf("busy"))
    for name in (
        "plain.pdf",
        "Rechnung Nr. 4711 für Müller GmbH & Co KG.pdf",
        "brief.txt",
        "logo.png",
    ):
        report = faxd.report_for(name, timeout=60)
        assert report["result"] == "delivered", (name, report)
        assert report["provider"] == "retarus"
        assert report["recipients"][0]["status"] == "OK"
        assert report["recipients"][0]["id"].startswith("FJ")
    docx = faxd.report_for("letter.docx", timeout=60)
    assert docx["result"] == "failed"
    assert "LibreOffice" in docx["error"] or "soffice" in docx["error"]
    busy = faxd.report_for("busy.pdf", timeout=60)
    assert busy["result"] == "failed"
    assert busy["recipients"][0]["status"] == "BUSY"
    assert busy["recipients"][0]["error"]
    stats = retarus(sandbox)
    assert stats["ha_report_queries"] == 0
    # Every finished job's report was deleted at its data center once recorded.
    assert stats["accepted"] == 5
    assert set(stats["uploads_by_sha256"].values()) == {1}
    wait_for(lambda: len(retarus(sandbox)["deleted_reports"]) == 5, 30, "the reports deleted")
    work = faxd.state / "work"
    assert not work.exists() or not any(work.iterdir())  # converted PDFs removed once filed
    assert retarus(sandbox)["jobs"] == {}


def test_sigkill_during_a_retarus_run_gives_one_job_per_document(
    retarus_faxd: Faxd, sandbox: SandboxServer
) -> None:
    faxd = retarus_faxd
    for i in range(20):
        faxd.drop(f"+4930123456/r-{i:02d}.pdf", pdf(f"r-{i}"))
    faxd.start(FAXD_CRASH_AT="after_accept_before_commit")
    assert faxd.proc is not None
    proc = faxd.proc
    wait_for(lambda: proc.poll() is not None, 60, "the crash after an accepted job")
    faxd.proc = None
    faxd.start()
    wait_for(
        lambda: len(list(faxd.sent.rglob("r-??.pdf"))) == 20 if faxd.sent.exists() else False,
        120,
        "all 20 documents in sent/",
        step=0.3,
    )
    stats = retarus(sandbox)
    assert stats["accepted"] == 20
    assert len(stats["uploads_by_sha256"]) == 20
    assert set(stats["uploads_by_sha256"].values()) == {1}
    assert stats["ha_report_queries"] == 0


def _logged_at(faxd: Faxd, event: str) -> datetime:
    for line in faxd.log_text().splitlines():
        if line.startswith("{") and json.loads(line).get("event") == event:
            return datetime.fromisoformat(json.loads(line)["timestamp"])
    raise AssertionError(f"{event!r} not in the daemon log:\n{faxd.log_text()[-3000:]}")


@pytest.mark.parametrize(
    ("action", "submits", "next_event"),
    [
        ("status_after", 1, "the lost upload had been accepted"),
        ("status", 2, "the provider has no trace of the lost upload; sending it again"),
    ],
    ids=["processed", "not-processed"],
)
def test_a_503_to_the_job_is_looked_up_by_its_reference_and_sent_once(
    retarus_faxd: Faxd, sandbox: SandboxServer, action: str, submits: int, next_event: str
) -> None:
    # The job's customerDefinedId is looked up in every data center's report list before
    # the job is submitted again, and not before the Retry-After; a second submission of a
    # job Retarus took would lean on its 409, whose rule the API page does not give.
    faxd = retarus_faxd
    sandbox.add_fault(
        {"api": "retarus", "endpoint": "submit", "action": action, "status": 503,
         "retry_after": "3"}
    )  # fmt: skip
    faxd.start()
    faxd.drop("+4930123456/unavailable.pdf", pdf(f"retarus unavailable {action}"))
    report = faxd.report_for("unavailable.pdf", timeout=90)
    assert report["result"] == "delivered"
    stats = retarus(sandbox)
    assert stats["accepted"] == 1
    assert list(stats["uploads_by_sha256"].values()) == [1]
    assert stats["submit_requests"] == submits
    unknown = _logged_at(faxd, "upload outcome unknown; asking the provider before any new upload")
    assert (_logged_at(faxd, next_event) - unknown).total_seconds() >= 2.9
    assert faxd.stop() == 0
