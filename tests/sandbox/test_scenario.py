"""Scenario files: loading, every problem named with file and key, the shipped example."""

from __future__ import annotations

import io
import signal
import threading
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import requests

from faxd.clock import FakeClock
from faxd.sandbox import load_scenario, serve_forever
from faxd.sandbox.blobs import GeneratedBlob
from faxd.sandbox.multipart import MultipartError, boundary_of, parse_multipart
from faxd.sandbox.scenario import Scenario, parse_scenario
from faxd.sandbox.server import SandboxServer

from .sandbox_helpers import DOCS_AUTH, docs_post

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sandbox.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_loads_and_serves_its_documents(
    http: requests.Session, clock: FakeClock
) -> None:
    data = load_scenario(EXAMPLE)
    scenario = parse_scenario(data)
    assert len(scenario.dft_numbers) == 2
    assert scenario.failing_numbers == {"+46812345699": "BUSY"}
    assert scenario.faults == ()
    with SandboxServer(data, clock=clock) as srv:
        listed = docs_post(
            http,
            srv,
            "Retrieve",
            {"dateFrom": "2000-01-01T00:00:00", "dateTo": "2100-01-01T00:00:00"},
        ).json()
        assert len(listed) == len(data["received"])
        # relative times land before start-up, in order
        assert [d["files"][0]["fileName"] for d in listed] == [
            "order-1001.pdf",
            "price list.txt",
            "../../etc/passwd",
        ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("status_dealy: 1\n", "status_dealy: unknown key"),
        ("status_delay: -1\n", "status_delay: must be a number"),
        ("send_status: 202\n", "send_status: must be 200 or 201"),
        ("timezone: Mars/Olympus\n", "timezone:"),
        ("rename_files: sometimes\n", "rename_files: must be true or false"),
        ("dft_numbers: ['08123']\n", "dft_numbers[0]: '08123' is not an E.164"),
        ("failing_numbers: {'+46812345699': OK}\n", "not a failure status"),
        ("failing_numbers: 5\n", "failing_numbers: must be"),
        ("retarus_placement: random\n", "retarus_placement"),
        ("retarus_required: strict\n", "retarus_required: must be minimal or swagger"),
        ("retarus_username: 'a:b'\n", "retarus_username"),
        ("faults: [{api: docs, action: boom}]\n", "faults[0].action"),
        ("faults: {api: docs}\n", "faults: must be a list"),
        ("received: [{recipient: '+4612345678'}]\n", "received[0].files"),
        ("received: [{files: [{fileName: a, size: 1}]}]\n", "received[0].recipient: is required"),
        (
            "received: [{recipient: '+4612345678', faxTime: soon,"
            " files: [{fileName: a, size: 1}]}]\n",
            "received[0].faxTime",
        ),
        (
            "received: [{recipient: '+4612345678', files: [{fileName: a, size: 1, content: x}]}]\n",
            "exactly one of content, content_base64, size, path",
        ),
        (
            "received: [{recipient: '+4612345678', files: [{fileName: a, path: missing.pdf}]}]\n",
            "is not a readable file",
        ),
        ("generate_received: {count: -1}\n", "generate_received.count"),
        ("generate_received: {colour: red}\n", "generate_received.colour"),
        ("- just a list\n", "must be a mapping"),
        ("status_delay: [\n", "not valid YAML at line"),
    ],
)
def test_problems_name_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert needle in message
    assert "\n" not in message


def test_missing_file_is_one_clear_sentence(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the scenario file"):
        load_scenario(tmp_path / "nope.yaml")


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, "# nothing\n")) == {}
    assert parse_scenario({}) == Scenario()


def test_relative_paths_are_resolved_beside_the_scenario(
    tmp_path: Path, http: requests.Session, clock: FakeClock
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "in.pdf").write_bytes(b"%PDF-1.4 from disk")
    data = load_scenario(
        write(
            tmp_path,
            "received:\n  - faxId: disk\n    recipient: '+4612345678'\n"
            "    files: [{fileName: in.pdf, path: docs/in.pdf}]\n",
        )
    )
    with SandboxServer(data, clock=clock) as srv:
        file_id = docs_post(http, srv, "Retrieve", {"faxId": "disk"}).json()["files"][0]["fileId"]
        body = http.get(f"{srv.docs_base_url}/File/{file_id}", headers=DOCS_AUTH, timeout=10)
        assert body.content == b"%PDF-1.4 from disk"


def test_server_refuses_a_bad_scenario_dict() -> None:
    with pytest.raises(ValueError, match="scenario: status_delay"):
        SandboxServer({"status_delay": "fast"})


def test_add_fault_and_add_received_validate(make_sandbox: Callable[..., SandboxServer]) -> None:
    srv = make_sandbox()
    with pytest.raises(ValueError, match=r"fault\.endpoint"):
        srv.add_fault({"api": "retarus", "endpoint": "send", "action": "slow"})
    with pytest.raises(ValueError, match=r"document\.recipient"):
        srv.add_received({"recipient": "123", "files": [{"fileName": "a", "size": 1}]})
    fax_id = srv.add_received(
        {"faxId": "mine", "recipient": "+4612345678", "files": [{"fileName": "a", "size": 1}]}
    )
    assert fax_id == "mine"
    with pytest.raises(ValueError, match="already exists"):
        srv.add_received(
            {"faxId": "mine", "recipient": "+4612345678", "files": [{"fileName": "a", "size": 1}]}
        )


@pytest.mark.parametrize("size", [0, 5, 17, 100, 65536 * 2 + 3])
def test_generated_files_have_the_exact_size_and_are_stable(size: int) -> None:
    first = b"".join(GeneratedBlob(size, "s").chunks(1000))
    assert len(first) == size
    assert first == b"".join(GeneratedBlob(size, "s").chunks(4096))
    if size >= 32:
        assert first.startswith(b"%PDF-1.4")
        assert first.endswith(b"%%EOF\n")


def test_multipart_parser_edge_cases() -> None:
    body = (
        b'preamble\r\n--xx\r\nContent-Disposition: form-data; name="file"; '
        b"filename=\"plain.pdf\"; filename*=UTF-8''R%C3%A4kning.pdf\r\n"
        b"Content-Type: Application/PDF; charset=binary\r\n\r\n%PDF-\r\n--x\r\n--xx--\r\n"
    )
    (part,) = parse_multipart(body, boundary_of('multipart/form-data; boundary="xx"'))
    assert part.filename == "Räkning.pdf"
    assert part.content_type == "application/pdf"
    assert part.data == b"%PDF-\r\n--x"
    with pytest.raises(MultipartError, match="boundary"):
        boundary_of("multipart/form-data")
    with pytest.raises(MultipartError, match="field name"):
        parse_multipart(b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--", "b")
    with pytest.raises(MultipartError, match="Content-Disposition"):
        parse_multipart(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", "b")


def test_serve_forever_prints_the_urls_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = write(tmp_path, "docs_api_key: secret-from-scenario\n")
    out = io.StringIO()

    gave_up = threading.Event()

    def stop_when_ready() -> None:
        # the banner is printed after the signal handlers are installed; without it, a
        # SIGTERM would kill pytest itself
        while "Press Ctrl-C" not in out.getvalue():
            if gave_up.wait(0.01):
                return
        signal.raise_signal(signal.SIGTERM)

    stopper = threading.Thread(target=stop_when_ready)
    with redirect_stdout(out):
        stopper.start()
        try:
            serve_forever(0, path)
        finally:
            gave_up.set()
            stopper.join()
    text = out.getvalue()
    assert "/Docs/api/v2" in text
    assert "/retarus/ha/rest/v1" in text
    assert "/retarus/dc1/rest/v1" in text
    assert "/retarus/dc2/rest/v1" in text
    # a key the user chose is a secret: never printed
    assert "secret-from-scenario" not in text
    assert "stopped" in text
