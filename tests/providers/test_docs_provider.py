"""DocsProvider against a bare loopback server: what goes on the wire, and how odd answers
and local trouble end. (Behaviour against the emulator: test_docs_contract.py.)"""

from __future__ import annotations

import email
import email.policy
import io
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog.testing

from faxd.errors import AuthError, OutcomeUnknownError, RejectedError, TransientError
from faxd.model import Accepted, Method, OutgoingFile, Submission
from faxd.providers import docs_wire as wire
from faxd.providers.base import GateShut
from faxd.providers.docs import DocsProvider
from faxd.settings import DocsProviderSettings, Secret

from .rawserver import CANARY_KEY, RawServer, respond, truncated

Start = Callable[..., RawServer]


def provider(url: str, read_timeout: float = 2.0) -> DocsProvider:
    settings = DocsProviderSettings(
        name="docs",
        api_key=Secret(CANARY_KEY),
        base_url=url + "/Docs/api/v2/",
        connect_timeout=2.0,
        read_timeout=read_timeout,
    )
    return DocsProvider(settings)


def submission(*files: OutgoingFile, dft: bool = True) -> Submission:
    return Submission(
        key="j/0", job_id="j", sender="+4612345678", recipient="+46927654321", files=files, dft=dft
    )


def pdf(tmp_path: Path, name: str = "invoice.pdf", size: int = 3000) -> OutgoingFile:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4\n" + b"x" * (size - 9))
    return OutgoingFile(path, name, "application/pdf", size)


SEND_OK = json.dumps({"faxId": "id-1", "directFileTransfer": True}).encode()


def test_submit_sends_a_streamed_multipart_form(raw_server: Start, tmp_path: Path) -> None:
    server = raw_server(respond("200 OK", {"Content-Type": "application/json"}, SEND_OK))
    text = tmp_path / "terms.txt"
    text.write_text("terms", encoding="utf-8")
    files = (pdf(tmp_path), OutgoingFile(text, "Villkor å.txt", "text/plain", 5))
    docs = provider(server.url)
    assert docs.submit(submission(*files)) == Accepted("id-1", Method.DFT)
    docs.close()

    (request,) = server.received
    assert request.request_line == "POST /Docs/api/v2/Send HTTP/1.1"
    assert request.header("Authorization") == f"Bearer {CANARY_KEY}"
    assert request.header("Transfer-Encoding") is None  # a known length, not chunked
    assert int(request.header("Content-Length") or 0) == len(request.body)
    form = email.message_from_bytes(
        f"Content-Type: {request.header('Content-Type')}\r\n\r\n".encode() + request.body,
        policy=email.policy.HTTP,
    )
    parts = [
        (p.get_param("name", header="content-disposition"), p.get_filename(), p.get_content_type())
        for p in form.iter_parts()
    ]
    assert parts == [
        ("senderFaxNumber", None, "text/plain"),
        ("recipientFaxNumber", None, "text/plain"),
        ("allowDirectFileTransfer", None, "text/plain"),
        # plain ASCII (survives multipart unchanged) and the transmission's token
        ("file", f"invoice_fx{wire.upload_token('j/0')}.pdf", "application/pdf"),
        ("file", f"Villkor_a_fx{wire.upload_token('j/0')}.txt", "text/plain"),
    ]
    payloads = [p.get_payload(decode=True) for p in form.iter_parts()]
    assert payloads[:3] == [b"+4612345678", b"+46927654321", b"true"]
    assert payloads[3] == files[0].path.read_bytes()
    assert payloads[4] == b"terms"


@pytest.mark.parametrize("status", ["200 OK", "201 Created"])
def test_both_success_codes_are_accepted(raw_server: Start, tmp_path: Path, status: str) -> None:
    server = raw_server(respond(status, {"Content-Type": "application/json"}, SEND_OK))
    docs = provider(server.url)
    assert docs.submit(submission(pdf(tmp_path))).remote_id == "id-1"
    docs.close()


@pytest.mark.parametrize("body", [b"{}", b"", b"<html>ok</html>"])
def test_success_without_a_fax_id_is_outcome_unknown(
    raw_server: Start, tmp_path: Path, body: bytes
) -> None:
    server = raw_server(respond("201 Created", {"Content-Type": "application/json"}, body))
    docs = provider(server.url)
    with pytest.raises(OutcomeUnknownError):
        docs.submit(submission(pdf(tmp_path)))
    docs.close()


def test_a_missing_file_fails_before_any_request(raw_server: Start, tmp_path: Path) -> None:
    server = raw_server(respond("201 Created", body=SEND_OK))
    gone = OutgoingFile(tmp_path / "gone.pdf", "gone.pdf", "application/pdf", 10)
    docs = provider(server.url)
    with pytest.raises(RejectedError, match=r"gone\.pdf"):
        docs.submit(submission(gone))
    docs.close()
    assert server.received == []


class Gate:
    """Records what the server had received when the gate was entered and left."""

    def __init__(self, server: RawServer, *, shut: bool = False) -> None:
        self.server = server
        self.shut = shut
        self.seen: list[tuple[str, int]] = []

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self.seen.append(("entered", len(self.server.received)))
        if self.shut:
            raise GateShut
        yield
        self.seen.append(("left", len(self.server.received)))


def test_the_gate_opens_after_the_request_is_built_and_closes_once_answered(
    raw_server: Start, tmp_path: Path
) -> None:
    server = raw_server(respond("201 Created", {"Content-Type": "application/json"}, SEND_OK))
    gate = Gate(server)
    docs = provider(server.url)
    assert docs.submit(submission(pdf(tmp_path)), gate).remote_id == "id-1"
    docs.close()
    assert gate.seen == [("entered", 0), ("left", 1)]


def test_a_shut_gate_sends_nothing_and_leaves_no_file_open(
    raw_server: Start, tmp_path: Path
) -> None:
    server = raw_server(respond("201 Created", body=SEND_OK))
    docs = provider(server.url)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(GateShut):
        docs.submit(submission(pdf(tmp_path), pdf(tmp_path, "b.pdf")), Gate(server, shut=True))
    assert len(os.listdir("/proc/self/fd")) == before
    docs.close()
    assert server.received == []


def test_a_file_that_cannot_be_read_fails_before_the_gate(
    raw_server: Start, tmp_path: Path
) -> None:
    server = raw_server(respond("201 Created", body=SEND_OK))
    gate = Gate(server)
    gone = OutgoingFile(tmp_path / "gone.pdf", "gone.pdf", "application/pdf", 10)
    docs = provider(server.url)
    with pytest.raises(RejectedError, match=r"gone\.pdf"):
        docs.submit(submission(gone), gate)
    docs.close()
    assert gate.seen == []  # no slot taken, nothing committed for it


def test_a_file_that_shrinks_during_the_upload_is_transient(
    raw_server: Start, tmp_path: Path
) -> None:
    big = pdf(tmp_path, "big.pdf", size=24 * 1024 * 1024)

    def shrink_then_drain(conn: socket.socket, server: RawServer) -> None:
        # Take the headers, then shorten the file while the client is still sending: more
        # than the socket buffers hold is still unread on the client's side.
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        big.path.write_bytes(b"%PDF-1.4 short")
        while conn.recv(1 << 20):
            pass

    server = raw_server(shrink_then_drain)
    docs = provider(server.url)
    with pytest.raises(TransientError, match="changed while it was being sent"):
        docs.submit(submission(big))
    docs.close()


def test_status_answer_that_cannot_be_read_is_transient(raw_server: Start) -> None:
    body = json.dumps({"faxId": "id-1", "status": "Sent"}).encode()  # no faxTime
    server = raw_server(respond("200 OK", {"Content-Type": "application/json"}, body))
    docs = provider(server.url)
    with pytest.raises(TransientError, match="not understood"):
        docs.status("id-1")
    docs.close()


def test_status_request_body(raw_server: Start) -> None:
    body = json.dumps(
        {"faxId": "id/1", "faxTime": "2023-05-01T14:47:33", "status": "Sending", "type": "Fax"}
    ).encode()
    server = raw_server(respond("200 OK", {"Content-Type": "application/json"}, body))
    docs = provider(server.url)
    status = docs.status("id/1")
    docs.close()
    assert (status.final, status.status, status.method) == (False, "Sending", Method.FAX)
    (request,) = server.received
    assert request.request_line == "POST /Docs/api/v2/Retrieve HTTP/1.1"
    assert json.loads(request.body) == {"faxId": "id/1"}
    assert request.header("Authorization") == f"Bearer {CANARY_KEY}"


def test_an_empty_range_answered_204_no_content_is_no_documents(raw_server: Start) -> None:
    # generic-docs-v2.txt: "204 | No Content | The request was successful but there is no
    # content in the response."; what an empty date range answers is not shown.
    server = raw_server(respond("204 No Content"))
    docs = provider(server.url)
    start = datetime(2023, 5, 1, 12, 0, tzinfo=UTC)
    assert docs.list_received(start, start + timedelta(days=1)) == []
    docs.close()
    (request,) = server.received
    assert request.request_line == "POST /Docs/api/v2/Retrieve HTTP/1.1"
    assert json.loads(request.body) == {
        "dateFrom": "2023-05-01T14:00:00",
        "dateTo": "2023-05-02T14:00:00",
    }


def test_a_lost_upload_lookup_over_an_empty_range_answered_204_finds_nothing(
    raw_server: Start, tmp_path: Path
) -> None:
    server = raw_server(respond("204 No Content"))
    docs = provider(server.url)
    sent = datetime(2023, 5, 1, 12, 0, tzinfo=UTC)
    assert docs.find_submission(submission(pdf(tmp_path)), sent, frozenset()) is None
    docs.close()


def test_fetch_streams_and_returns_the_rfc6266_name(raw_server: Start) -> None:
    payload = b"%PDF-1.4\n" + bytes(range(256)) * 2000
    headers = {
        "Content-Type": "application/pdf",
        "Content-Disposition": "attachment; filename=\"x.pdf\"; filename*=UTF-8''r%C3%A4kning.pdf",
    }
    server = raw_server(respond("200 OK", headers, payload))
    docs = provider(server.url)
    sink = io.BytesIO()
    assert docs.fetch("file/7", sink) == "räkning.pdf"
    docs.close()
    assert sink.getvalue() == payload
    (request,) = server.received
    assert request.request_line == "GET /Docs/api/v2/File/file%2F7 HTTP/1.1"
    assert request.header("Accept-Encoding") == "identity"


def test_fetch_of_a_truncated_body_is_transient(raw_server: Start) -> None:
    server = raw_server(truncated)
    docs = provider(server.url)
    with pytest.raises(TransientError):
        docs.fetch("f1", io.BytesIO())
    docs.close()


def test_fetch_without_disposition_returns_none(raw_server: Start) -> None:
    server = raw_server(respond("200 OK", {"Content-Type": "application/pdf"}, b"%PDF-"))
    docs = provider(server.url)
    assert docs.fetch("f1", io.BytesIO()) is None
    docs.close()


@pytest.mark.parametrize("status", ["204 No Content", "200 OK", "404 Not Found"])
def test_delete_accepts_done_and_already_gone(raw_server: Start, status: str) -> None:
    server = raw_server(respond(status))
    docs = provider(server.url)
    docs.delete("id-1")
    docs.close()
    (request,) = server.received
    assert request.request_line == "DELETE /Docs/api/v2/Delete HTTP/1.1"
    assert json.loads(request.body) == {"faxId": "id-1"}


def test_delete_refused_for_other_reasons_raises(raw_server: Start) -> None:
    server = raw_server(respond("400 Bad Request", body=b'{"message": "faxId is required."}'))
    docs = provider(server.url)
    with pytest.raises(RejectedError, match="faxId is required"):
        docs.delete("id-1")
    docs.close()


def test_repr_and_errors_never_show_the_key(raw_server: Start) -> None:
    server = raw_server(respond("401 Unauthorized", body=f"bad key {CANARY_KEY}".encode()))
    docs = provider(server.url)
    assert CANARY_KEY not in repr(docs)
    assert CANARY_KEY not in repr(vars(docs))
    with pytest.raises(AuthError) as info:
        docs.check_dft("+46927654321")
    docs.close()
    assert CANARY_KEY not in str(info.value)


def test_an_unknown_status_word_is_not_final_and_logged(raw_server: Start) -> None:
    body = json.dumps(
        {"faxId": "id-1", "faxTime": "2023-05-01T14:47:33", "status": "Queued", "type": "Fax"}
    ).encode()
    server = raw_server(respond("200 OK", {"Content-Type": "application/json"}, body))
    docs = provider(server.url)
    with structlog.testing.capture_logs() as logs:
        status = docs.status("id-1")
    docs.close()
    assert (status.final, status.status) == (False, "Queued")
    assert [(e["log_level"], e["status"], e["remote_id"]) for e in logs] == [
        ("warning", "Queued", "id-1")
    ]
