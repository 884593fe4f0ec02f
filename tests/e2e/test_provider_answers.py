"""The daemon against the sandbox: a refused optional DFT check, a wrong base_url, a PCX
image and a failed transmission's advice."""

from __future__ import annotations

import io
import signal
from typing import Any

import pytest
from PIL import Image

from faxd.sandbox.server import SandboxServer

from .harness import Faxd, pdf, wait_for

pytestmark = pytest.mark.slow

DFT_NUMBER = "+46812345611"  # the sandbox takes DFT for numbers ending in 11


def docs_stats(sandbox: SandboxServer) -> dict[str, Any]:
    return dict(sandbox.stats()["docs"])


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refused_dft_check_sends_a_fax_instead(
    faxd: Faxd, sandbox: SandboxServer, status: int
) -> None:
    sandbox.add_fault(
        {"api": "docs", "endpoint": "check_dft", "action": "status", "status": status,
         "times": "always"}
    )  # fmt: skip
    faxd.start()
    faxd.drop(f"{DFT_NUMBER}/checked.pdf", pdf(f"checked-{status}"))
    report = faxd.report_for("checked.pdf", timeout=60)
    assert report["result"] == "delivered"
    assert report["recipients"][0]["method"] == "fax"
    assert report["recipients"][0]["attempts"] == 1
    assert "paused" not in faxd.log_text()
    assert "Direct File Transfer check refused; sending as fax" in faxd.log_text()


def test_a_wrong_base_url_pauses_keeps_the_document_and_sighup_resumes(
    faxd: Faxd, sandbox: SandboxServer
) -> None:
    right = faxd.docs_url
    faxd.docs_url = right + "/v1"  # a path below which there is no API: 404 on /Send
    faxd.overrides["dft"] = "never"
    faxd.start()
    faxd.drop("+46812345678/first.pdf", pdf("first"))
    faxd.drop("+46812345678/second.pdf", pdf("second"))
    wait_for(
        lambda: "address looks wrong" in faxd.log_text(), 30, "the configuration pause to be logged"
    )
    assert docs_stats(sandbox)["send_requests"] == 0  # nothing reached the real endpoint
    assert faxd.log_text().count("address looks wrong") == 1
    assert "base_url" in faxd.log_text()
    for name in ("first.pdf", "second.pdf"):
        assert (faxd.spool / "+46812345678" / name).exists()
    assert not faxd.failed.exists() or not any(faxd.failed.rglob("*.pdf"))
    faxd.docs_url = right
    faxd.write_config()
    assert faxd.proc is not None
    faxd.proc.send_signal(signal.SIGHUP)
    for name in ("first.pdf", "second.pdf"):
        assert faxd.report_for(name, timeout=60)["result"] == "delivered"
    assert sorted(docs_stats(sandbox)["uploads_by_sha256"].values()) == [1, 1]


def test_a_pcx_image_arrives_as_png(faxd: Faxd, sandbox: SandboxServer) -> None:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (10, 120, 200)).save(out, "PCX")
    faxd.start()
    faxd.drop("+46812345678/scan.pcx", out.getvalue())
    report = faxd.report_for("scan.pcx", timeout=60)
    assert report["result"] == "delivered", report
    (sent,) = docs_stats(sandbox)["transmissions"].values()
    assert [name.rsplit(".", 1)[-1] for name in sent["files"]] == ["png"]


def test_a_failed_transmission_tells_the_office_what_to_do(faxd: Faxd) -> None:
    faxd.start()
    faxd.drop("+46812345699/letter.pdf", pdf("letter"))  # the sandbox fails numbers ending 99
    report = faxd.report_for("letter.pdf", timeout=60)
    assert report["result"] == "failed"
    (recipient,) = report["recipients"]
    error = recipient["error"]
    assert "Check the number with the recipient" in error
    assert "send it again later (faxd retry)" in error
    assert f"contact Generic DOCS support quoting id {recipient['id']}" in error
