"""DocsProvider: PCX sent as PNG, a wrong base_url told apart from a refused document, and
a Direct File Transfer check whose answer cannot be read."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from faxd.errors import EndpointError, RejectedError
from faxd.model import Limits, OutgoingFile
from faxd.providers import docs_wire as wire
from faxd.sandbox.filecheck import check_file

from .rawserver import RawServer, respond
from .test_docs_provider import pdf, provider, submission

Start = Callable[..., RawServer]
JSON = {"Content-Type": "application/json"}


def pcx(tmp_path: Path, name: str = "scan.pcx", mode: str = "P") -> OutgoingFile:
    image = Image.new("RGB", (64, 40), (200, 10, 10)).convert(mode)
    out = io.BytesIO()
    image.save(out, "PCX")
    path = tmp_path / name
    path.write_bytes(out.getvalue())
    return OutgoingFile(path, name, "image/vnd.zbrush.pcx", len(out.getvalue()))


# --- PCX -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB"])
def test_pcx_is_prepared_as_a_lossless_png(tmp_path: Path, mode: str) -> None:
    original = pcx(tmp_path, mode=mode)
    docs = provider("http://127.0.0.1:9")
    (prepared,) = docs.prepare([original], tmp_path / "work")
    docs.close()
    assert prepared.name == "scan.png"
    assert prepared.mime == "image/png"
    assert prepared.size == prepared.path.stat().st_size
    with Image.open(prepared.path) as png, Image.open(original.path) as source:
        assert png.format == "PNG"
        assert png.convert("RGB").tobytes() == source.convert("RGB").tobytes()
    # The emulator checks name, declared type and content the way the API page says.
    assert check_file(prepared.name, prepared.mime, prepared.path.read_bytes()) is None


def test_other_files_are_sent_as_they_are(tmp_path: Path) -> None:
    docs = provider("http://127.0.0.1:9")
    files = [pdf(tmp_path), pcx(tmp_path)]
    prepared = docs.prepare(files, tmp_path / "work")
    docs.close()
    assert prepared[0] is files[0]
    assert prepared[1].name == "scan.png"


def test_a_converted_name_never_takes_another_files_name() -> None:
    assert wire.upload_names(["scan.pcx", "scan.png", "Other.PCX", "a.pdf"]) == [
        "scan-2.png",
        "scan.png",
        "Other.png",
        "a.pdf",
    ]


def test_a_broken_pcx_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.pcx"
    path.write_bytes(b"\x0a\x05\x01\x08" + b"\0" * 60)
    docs = provider("http://127.0.0.1:9")
    with pytest.raises(RejectedError, match=r"broken\.pcx: the image could not be converted"):
        docs.prepare([OutgoingFile(path, path.name, "image/vnd.zbrush.pcx", 64)], tmp_path)
    docs.close()


def test_a_pcx_too_big_as_png_is_refused(tmp_path: Path) -> None:
    docs = provider("http://127.0.0.1:9")
    docs.limits = Limits(max_files=5, max_file_size=50, extensions={})
    with pytest.raises(RejectedError, match=r"scan\.pcx: converted to PNG it is [\d,]+ bytes"):
        docs.prepare([pcx(tmp_path)], tmp_path / "work")
    docs.close()


# --- a wrong base_url -------------------------------------------------------------------


@pytest.mark.parametrize("status", ["404 Not Found", "405 Method Not Allowed"])
def test_send_to_a_missing_endpoint_is_a_configuration_problem(
    raw_server: Start, tmp_path: Path, status: str
) -> None:
    body = json.dumps({"message": "No route"}).encode()
    server = raw_server(respond(status, JSON, body))
    docs = provider(server.url)
    with pytest.raises(EndpointError) as caught:
        docs.submit(submission(pdf(tmp_path)))
    docs.close()
    assert caught.value.status_code == int(status[:3])
    assert "base_url" in str(caught.value)
    assert "No route" in str(caught.value)
    assert "fix the document" not in str(caught.value)


def test_a_refused_document_is_still_a_refused_document(raw_server: Start, tmp_path: Path) -> None:
    body = json.dumps({"message": "Unsupported file type"}).encode()
    server = raw_server(respond("400 Bad Request", JSON, body))
    docs = provider(server.url)
    with pytest.raises(RejectedError) as caught:
        docs.submit(submission(pdf(tmp_path)))
    docs.close()
    assert not isinstance(caught.value, EndpointError)


# --- the DFT check ----------------------------------------------------------------------


def test_a_dft_check_answer_that_cannot_be_read_is_not_retried(raw_server: Start) -> None:
    # The check is optional: an answer it cannot use makes the engine fax, not wait.
    server = raw_server(respond("200 OK", JSON, b'{"recipientFaxNumber": "+46927654321"}'))
    docs = provider(server.url)
    with pytest.raises(RejectedError, match="not understood"):
        docs.check_dft("+46927654321")
    docs.close()
