"""Generic DOCS /Send: authentication, URL spellings, validation and what is recorded."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable

import pytest
import requests

from faxd.sandbox.server import SandboxServer

from .sandbox_helpers import DOCS_AUTH, JPEG, PDF, PNG, SENDER, ooxml, send

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 32
TIFF = b"II*\x00" + b"\x00" * 16
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Basic c2FuZGJveC1kb2NzLWtleQ=="},
        {"Authorization": "sandbox-docs-key"},
    ],
)
def test_send_without_a_valid_bearer_key_is_401_and_records_nothing(
    sandbox: SandboxServer, http: requests.Session, headers: dict[str, str]
) -> None:
    answer = send(http, sandbox, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["status"] == 401
    stats = sandbox.stats()["docs"]
    assert stats["accepted"] == 0
    assert stats["send_requests"] == 1  # counted although refused
    assert stats["transmissions"] == {}


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("Retrieve", {"faxId": "x"}),
        ("Delete", {"faxId": "x"}),
        ("CheckDirectFileTransfer", {"recipientFaxNumber": "+46812345678"}),
    ],
)
def test_every_json_endpoint_requires_the_key(
    sandbox: SandboxServer, http: requests.Session, endpoint: str, body: dict[str, str]
) -> None:
    method = "DELETE" if endpoint == "Delete" else "POST"
    answer = http.request(method, f"{sandbox.docs_base_url}/{endpoint}", json=body, timeout=10)
    assert answer.status_code == 401
    assert "message" in answer.json()


def test_file_endpoint_requires_the_key(sandbox: SandboxServer, http: requests.Session) -> None:
    assert http.get(f"{sandbox.docs_base_url}/File/abc", timeout=10).status_code == 401


@pytest.mark.parametrize(
    "path", ["/Docs/api/v2/Send", "/Docs/v2/send", "/docs/API/v2/SEND", "/Docs/v2/Send/"]
)
def test_both_base_urls_and_any_casing_reach_send(
    sandbox: SandboxServer, http: requests.Session, path: str
) -> None:
    answer = http.post(
        sandbox.url + path,
        headers=DOCS_AUTH,
        data={"senderFaxNumber": SENDER, "recipientFaxNumber": "+46812345678"},
        files={"file": ("a.pdf", PDF, "application/pdf")},
        timeout=10,
    )
    assert answer.status_code == 201


def test_send_answers_201_with_a_uuid_and_records_the_upload(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    answer = send(http, sandbox, recipient="+46812345678")
    assert answer.status_code == 201
    body = answer.json()
    assert body["recipientFaxNumber"] == "+46812345678"
    assert body["directFileTransfer"] is False
    assert uuid.UUID(body["faxId"]).version == 4
    stats = sandbox.stats()["docs"]
    assert stats["accepted"] == 1
    assert stats["uploads_by_sha256"] == {hashlib.sha256(PDF).hexdigest(): 1}
    assert stats["transmissions"][body["faxId"]]["status"] == "Sending"
    assert stats["transmissions"][body["faxId"]]["files"] == ["letter.pdf"]


def test_send_status_200_is_configurable(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox({"send_status": 200})
    assert send(http, srv).status_code == 200


@pytest.mark.parametrize(
    ("recipient", "dft", "expected"),
    [
        ("+46812345611", "true", True),  # default rule: ends in 11 = DFT-capable
        ("+46812345611", "false", False),
        ("+46812345611", None, False),
        ("+46812345678", "true", False),
        ("+46812340000", "True", True),  # listed in the scenario
    ],
)
def test_dft_only_when_allowed_and_capable(
    make_sandbox: Callable[..., SandboxServer],
    http: requests.Session,
    recipient: str,
    dft: str | None,
    expected: bool,
) -> None:
    srv = make_sandbox({"dft_numbers": ["+46812340000"]})
    answer = send(http, srv, recipient=recipient, dft=dft)
    assert answer.json()["directFileTransfer"] is expected


def test_listing_a_number_overrides_the_default_rule(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox({"failing_numbers": ["+46812345611"]})
    assert (
        send(http, srv, recipient="+46812345611", dft="true").json()["directFileTransfer"] is False
    )


def test_several_recipients_answer_for_every_one_and_record_all(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    answer = send(http, sandbox, recipient=["+46812345601", "+46812345602"])
    assert answer.status_code == 201
    objects = answer.json()
    assert [o["recipientFaxNumber"] for o in objects] == ["+46812345601", "+46812345602"]
    transmissions = sandbox.stats()["docs"]["transmissions"]
    assert {fax_id: t["recipient"] for fax_id, t in transmissions.items()} == {
        o["faxId"]: o["recipientFaxNumber"] for o in objects
    }
    assert sandbox.stats()["docs"]["accepted"] == 1


def test_one_recipient_is_answered_with_one_object(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    answer = send(http, sandbox, recipient="+46812345601")
    assert answer.json()["recipientFaxNumber"] == "+46812345601"


def test_rename_files_stores_uploads_under_names_of_the_services_own(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox({"rename_files": True, "timezone": "UTC"})
    files = [
        ("file", ('brev "1"\n.pdf', PDF, "application/pdf")),
        ("file", ("letter_fxabcdefghij.pdf", PDF + b"%2", "application/pdf")),
    ]
    answer = send(http, srv, files=files)
    assert answer.status_code == 201, answer.text
    [transmission] = srv.stats()["docs"]["transmissions"].values()
    digits = SENDER.lstrip("+")
    first, second = transmission["files"]
    assert first.endswith(f"{digits}.pdf") and second.endswith(f"{digits}-2.pdf")
    assert "fx" not in first + second and "brev" not in first
    # the content is kept as uploaded: a test can still tell which bytes went where
    assert transmission["sha256"] == [
        hashlib.sha256(PDF).hexdigest(),
        hashlib.sha256(PDF + b"%2").hexdigest(),
    ]


def test_recipients_as_a_json_array_field(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = send(http, sandbox, recipient='["+46812345601", "+46812345602"]')
    assert answer.status_code == 201
    assert len(sandbox.stats()["docs"]["transmissions"]) == 2


@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [
        ("a.pdf", PDF, "application/pdf"),
        ("a.png", PNG, "image/png"),
        ("a.png", PNG, "image/x-png"),
        ("a.jpg", JPEG, "image/jpeg"),
        ("a.jpeg", JPEG, "image/pjpeg"),
        ("a.gif", b"GIF89a" + b"\x00" * 8, "image/gif"),
        ("a.bmp", b"BM" + b"\x00" * 8, "image/bmp"),
        ("a.tif", TIFF, "image/tiff"),
        ("a.tiff", b"MM\x00*" + b"\x00" * 8, "image/tiff"),
        ("a.txt", "Hej världen\n".encode(), "text/plain"),
        ("a.doc", OLE2, "application/msword"),
        ("a.xls", OLE2, "application/vnd.ms-excel"),
        ("a.ppt", OLE2, "application/vnd.ms-powerpoint"),
        ("a.docx", ooxml("word"), DOCX),
        (
            "a.xlsx",
            ooxml("xl"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            "a.pptx",
            ooxml("ppt"),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        ("a.pcx", b"\x0a\x05\x01\x08" + b"\x00" * 200, "image/bmp"),
    ],
)
def test_every_documented_type_is_accepted(
    sandbox: SandboxServer, http: requests.Session, name: str, content: bytes, mime: str
) -> None:
    answer = send(http, sandbox, files=[("file", (name, content, mime))])
    assert answer.status_code == 201, answer.text


def _refusal(answer: requests.Response) -> str:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["status"] == 400
    message: str = body["message"]
    return message


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ([("file", ("a.exe", PDF, "application/pdf"))], ".exe"),
        ([("file", ("noext", PDF, "application/pdf"))], "no extension"),
        ([("file", ("a.pdf", PDF, "application/zip"))], "unsupported MIME type"),
        ([("file", ("a.pdf", PDF, "image/png"))], "does not match the extension"),
        ([("file", ("a.png", PDF, "application/pdf"))], "does not match the extension"),
        ([("file", ("a.pdf", b"", "application/pdf"))], "is empty"),
        ([("file", ("a.pdf", b"GIF89a not a pdf", "application/pdf"))], "not a valid .pdf"),
        ([("file", ("a.png", JPEG, "image/png"))], "not a valid .png"),
        ([("file", ("a.jpg", PNG, "image/jpeg"))], "not a valid .jpg"),
        ([("file", ("a.txt", b"bin\x00ary", "text/plain"))], "not a valid .txt"),
        ([("file", ("a.docx", b"PK\x03\x04 broken", DOCX))], "not a valid .docx"),
        ([("file", ("a.docx", ooxml("xl"), DOCX))], "not a valid .docx"),
        ([("file", ("a.doc", PDF, "application/msword"))], "not a valid .doc"),
        ([("file", ("a.pdf", PDF))], "without a Content-Type"),
        ([("file", ("a.PDF", PDF, "application/pdf"))], "the supported spelling is .pdf"),
        ([("file", ("a.pdf", PDF, "application/pdf"))] * 6, "At most 5 files"),
        ([("document", ("a.pdf", PDF, "application/pdf"))], "Unknown form field 'document'"),
    ],
)
def test_file_validation_errors(
    sandbox: SandboxServer,
    http: requests.Session,
    files: list[tuple[str, tuple[str, bytes, str] | tuple[str, bytes]]],
    needle: str,
) -> None:
    answer = http.post(
        f"{sandbox.docs_base_url}/Send",
        headers=DOCS_AUTH,
        data={"senderFaxNumber": SENDER, "recipientFaxNumber": "+46812345678"},
        files=files,
        timeout=10,
    )
    assert needle in _refusal(answer)
    assert sandbox.stats()["docs"]["accepted"] == 0


def test_no_file_at_all_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = http.post(
        f"{sandbox.docs_base_url}/Send",
        headers=DOCS_AUTH,
        files={"senderFaxNumber": (None, SENDER), "recipientFaxNumber": (None, "+46812345678")},
        timeout=10,
    )
    assert "At least one file" in _refusal(answer)


def test_a_file_over_16_mb_is_refused(sandbox: SandboxServer, http: requests.Session) -> None:
    big = b"%PDF-1.4\n" + b"0" * (16 * 1024 * 1024)
    answer = send(http, sandbox, files=[("file", ("big.pdf", big, "application/pdf"))])
    assert "16 MB" in _refusal(answer)


def test_exactly_16_mb_is_accepted(sandbox: SandboxServer, http: requests.Session) -> None:
    exact = b"%PDF-1.4\n" + b"0" * (16 * 1024 * 1024 - 9)
    answer = send(http, sandbox, files=[("file", ("big.pdf", exact, "application/pdf"))])
    assert answer.status_code == 201


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"senderFaxNumber": "012345678", "recipientFaxNumber": "+46812345678"}, "senderFax"),
        ({"recipientFaxNumber": "+46812345678"}, "senderFaxNumber is required"),
        ({"senderFaxNumber": SENDER}, "recipientFaxNumber is required"),
        ({"senderFaxNumber": SENDER, "recipientFaxNumber": "08-123 456 78"}, "E.164"),
        ({"senderFaxNumber": SENDER, "recipientFaxNumber": "+0812345678"}, "E.164"),
        ({"senderFaxNumber": SENDER, "recipientFaxNumber": "+4681234567890123"}, "E.164"),
        (
            {
                "senderFaxNumber": SENDER,
                "recipientFaxNumber": [f"+4681234560{i}" for i in range(11)],
            },
            "At most 10 recipients",
        ),
        (
            {
                "senderFaxNumber": SENDER,
                "recipientFaxNumber": "+46812345678",
                "allowDirectFileTransfer": "yes",
            },
            "true or false",
        ),
        (
            {
                "senderFaxNumber": SENDER,
                "recipientFaxNumber": "+46812345678",
                "deliveryReportUrl": "ftp://example.com/x",
            },
            "deliveryReportUrl",
        ),
        (
            {"senderFaxNumber": SENDER, "recipientFaxNumber": "+46812345678", "reference": "x"},
            "Unknown form field 'reference'",
        ),
    ],
)
def test_field_validation_errors(
    sandbox: SandboxServer, http: requests.Session, data: dict[str, object], needle: str
) -> None:
    answer = http.post(
        f"{sandbox.docs_base_url}/Send",
        headers=DOCS_AUTH,
        data=data,
        files={"file": ("a.pdf", PDF, "application/pdf")},
        timeout=10,
    )
    assert needle in _refusal(answer)


def test_send_with_json_is_415(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = http.post(
        f"{sandbox.docs_base_url}/Send",
        headers=DOCS_AUTH,
        json={"senderFaxNumber": SENDER, "recipientFaxNumber": "+46812345678"},
        timeout=10,
    )
    assert answer.status_code == 415
    assert "multipart/form-data" in answer.json()["message"]


def test_broken_multipart_is_400(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = http.post(
        f"{sandbox.docs_base_url}/Send",
        headers={**DOCS_AUTH, "Content-Type": "multipart/form-data; boundary=xyz"},
        data=b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue',
        timeout=10,
    )
    assert "multipart" in _refusal(answer)


def test_wrong_method_and_unknown_path(sandbox: SandboxServer, http: requests.Session) -> None:
    wrong = http.get(f"{sandbox.docs_base_url}/Send", headers=DOCS_AUTH, timeout=10)
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "POST"
    missing = http.post(f"{sandbox.docs_base_url}/Fax", headers=DOCS_AUTH, timeout=10)
    assert missing.status_code == 404


def test_non_ascii_file_names_survive(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = send(http, sandbox, files=[("file", ("Räkning 4711.pdf", PDF, "application/pdf"))])
    fax_id = answer.json()["faxId"]
    assert sandbox.stats()["docs"]["transmissions"][fax_id]["files"] == ["Räkning 4711.pdf"]


def test_chunked_upload_is_read_in_full(sandbox: SandboxServer, http: requests.Session) -> None:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="senderFaxNumber"\r\n\r\n'
            f"{SENDER}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="recipientFaxNumber"\r\n\r\n+46812345678\r\n--{boundary}\r\n'
            f'Content-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
            f"Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def pieces() -> object:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    answer = http.post(
        f"{sandbox.docs_base_url}/Send",
        headers={**DOCS_AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        data=pieces(),  # type: ignore[arg-type]
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    assert sandbox.stats()["docs"]["uploads_by_sha256"] == {hashlib.sha256(PDF).hexdigest(): 1}


def test_concurrent_sends_are_each_recorded_once(sandbox: SandboxServer) -> None:
    def worker(index: int) -> None:
        with requests.Session() as session:
            for n in range(5):
                content = PDF + f"{index}-{n}".encode()
                answer = send(
                    session, sandbox, files=[("file", ("a.pdf", content, "application/pdf"))]
                )
                assert answer.status_code == 201

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = sandbox.stats()["docs"]
    assert stats["accepted"] == 30
    assert len(stats["uploads_by_sha256"]) == 30
    assert set(stats["uploads_by_sha256"].values()) == {1}
    assert len(stats["transmissions"]) == 30
