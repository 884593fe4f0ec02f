"""Generic DOCS: status progression, Retrieve (one and range), File, Delete, DFT check."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import requests

from faxd.clock import FakeClock
from faxd.sandbox.server import SandboxServer

from .sandbox_helpers import DOCS_AUTH, PDF, docs_post, send

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local(clock: FakeClock, tz: ZoneInfo = STOCKHOLM) -> str:
    return datetime.fromtimestamp(int(clock.time()), tz).strftime("%Y-%m-%dT%H:%M:%S")


def status_of(http: requests.Session, srv: SandboxServer, fax_id: str) -> dict[str, object]:
    answer = docs_post(http, srv, "Retrieve", {"faxId": fax_id})
    assert answer.status_code == 200
    body: dict[str, object] = answer.json()
    return body


def test_fax_goes_from_sending_to_received_after_the_delay(
    sandbox: SandboxServer, http: requests.Session, clock: FakeClock
) -> None:
    sent_at = local(clock)
    fax_id = send(http, sandbox, recipient="+46812345678").json()["faxId"]
    first = status_of(http, sandbox, fax_id)
    assert first["status"] == "Sending"
    assert first["faxTime"] == sent_at
    assert first["type"] == "Fax"
    assert first["senderFaxNumber"] == "+4612345678"
    clock.advance(9.5)
    assert status_of(http, sandbox, fax_id)["status"] == "Sending"
    clock.advance(0.5)
    final = status_of(http, sandbox, fax_id)
    assert final["status"] == "Received"
    assert final["statusTime"] == local(clock)
    assert final["faxTime"] == sent_at


def test_failing_numbers_end_failed(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session, clock: FakeClock
) -> None:
    srv = make_sandbox({"status_delay": 1, "failing_numbers": ["+46812345600"]})
    listed = send(http, srv, recipient="+46812345600").json()["faxId"]
    by_rule = send(http, srv, recipient="+46812345699").json()["faxId"]
    fine = send(http, srv, recipient="+46812345678").json()["faxId"]
    clock.advance(1)
    assert status_of(http, srv, listed)["status"] == "Failed"
    assert status_of(http, srv, by_rule)["status"] == "Failed"
    assert status_of(http, srv, fine)["status"] == "Received"


def test_dft_goes_received_then_opened(
    sandbox: SandboxServer, http: requests.Session, clock: FakeClock
) -> None:
    fax_id = send(http, sandbox, recipient="+46812345611", dft="true").json()["faxId"]
    assert status_of(http, sandbox, fax_id)["type"] == "DirectFileTransfer"
    clock.advance(10)
    assert status_of(http, sandbox, fax_id)["status"] == "Received"
    clock.advance(10)
    assert status_of(http, sandbox, fax_id)["status"] == "Opened"


def test_timestamps_follow_the_scenario_time_zone(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session, clock: FakeClock
) -> None:
    srv = make_sandbox({"timezone": "America/New_York"})
    fax_id = send(http, srv).json()["faxId"]
    assert status_of(http, srv, fax_id)["faxTime"] == local(clock, ZoneInfo("America/New_York"))


def test_retrieve_unknown_fax_id_is_404(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = docs_post(http, sandbox, "Retrieve", {"faxId": "no-such-id"})
    assert answer.status_code == 404
    assert "no-such-id" in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "dateFrom is required"),
        ({"dateFrom": "2026-01-01T00:00:00"}, "dateTo is required"),
        ({"dateFrom": "yesterday", "dateTo": "2026-01-01T00:00:00"}, "not an ISO-8601"),
        ({"dateFrom": "2026-01-02T00:00:00", "dateTo": "2026-01-01T00:00:00"}, "later than"),
        ({"faxId": 7}, "faxId must be"),
        ({"faxId": "x", "dateFrom": "2026-01-01T00:00:00"}, "not both"),
        ({"faxid": "x"}, "Unknown field"),
    ],
)
def test_retrieve_bad_requests_are_400(
    sandbox: SandboxServer, http: requests.Session, body: dict[str, object], needle: str
) -> None:
    answer = docs_post(http, sandbox, "Retrieve", body)
    assert answer.status_code == 400
    assert needle in answer.json()["message"]


def test_retrieve_needs_json(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = http.post(
        f"{sandbox.docs_base_url}/Retrieve", headers=DOCS_AUTH, data={"faxId": "x"}, timeout=10
    )
    assert answer.status_code == 415


def _received(count: int, start: str = "2026-05-01T12:00:00") -> dict[str, object]:
    return {
        "generate_received": {
            "count": count,
            "start": start,
            "span_seconds": 3600,
            "recipient": "+4612345678",
            "seed": 7,
        }
    }


def test_range_is_capped_at_100_in_fax_time_order(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(_received(150))
    window = {"dateFrom": "2026-05-01T12:00:00", "dateTo": "2026-05-01T13:00:00"}
    answer = docs_post(http, srv, "Retrieve", window)
    assert answer.status_code == 200
    listed = answer.json()
    assert len(listed) == 100
    times = [doc["faxTime"] for doc in listed]
    assert times == sorted(times)
    # the 100 returned are the earliest: a later window continues where this one stops
    later = docs_post(
        http, srv, "Retrieve", {"dateFrom": times[-1], "dateTo": "2026-05-01T13:00:00"}
    ).json()
    everything = {d["faxId"] for d in listed} | {d["faxId"] for d in later}
    assert len(everything) == 150


def test_range_bounds_are_inclusive(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(
        {
            "received": [
                {
                    "faxTime": t,
                    "recipient": "+4612345678",
                    "files": [{"fileName": "a.pdf", "size": 9}],
                }
                for t in ("2026-05-01T11:59:59", "2026-05-01T12:00:00", "2026-05-01T13:00:00")
            ]
            + [
                {
                    "faxTime": "2026-05-01T13:00:01",
                    "recipient": "+4612345678",
                    "files": [{"fileName": "b.pdf", "size": 9}],
                }
            ]
        }
    )
    found = docs_post(
        http, srv, "Retrieve", {"dateFrom": "2026-05-01T12:00:00", "dateTo": "2026-05-01T13:00:00"}
    ).json()
    assert [d["faxTime"] for d in found] == ["2026-05-01T12:00:00", "2026-05-01T13:00:00"]


def test_range_lists_our_own_outbound_transmissions_too(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session, clock: FakeClock
) -> None:
    now = local(clock)
    srv = make_sandbox(
        {
            "received": [
                {
                    "faxTime": now,
                    "sender": "+4687000001",
                    "recipient": "+4612345678",
                    "files": [{"fileName": "in.pdf", "content": "%PDF-1.4 in"}],
                }
            ]
        }
    )
    fax_id = send(http, srv).json()["faxId"]
    listed = docs_post(http, srv, "Retrieve", {"dateFrom": now, "dateTo": now}).json()
    assert {d["faxId"] for d in listed} >= {fax_id}
    assert len(listed) == 2
    assert {d["recipientFaxNumber"] for d in listed} == {"+4612345678", "+46812345678"}


def test_file_streams_content_with_headers(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    size = 3 * 1024 * 1024 + 17
    srv = make_sandbox(_received(1))
    doc = docs_post(
        http, srv, "Retrieve", {"dateFrom": "2026-05-01T00:00:00", "dateTo": "2026-05-02T00:00:00"}
    ).json()[0]
    file_id = doc["files"][0]["fileId"]
    srv.add_received(
        {
            "faxId": "big-one",
            "faxTime": "2026-05-01T12:00:00",
            "recipient": "+4612345678",
            "files": [{"fileName": "big.pdf", "size": size}],
        }
    )
    small = http.get(f"{srv.docs_base_url}/File/{file_id}", headers=DOCS_AUTH, timeout=10)
    assert small.status_code == 200
    assert small.headers["Content-Type"] == "application/pdf"
    assert small.headers["Content-Disposition"] == 'attachment; filename="received-0.pdf"'
    assert small.content.startswith(b"%PDF-")
    big_id = status_of(http, srv, "big-one")["files"][0]["fileId"]  # type: ignore[index]
    with http.get(
        f"{srv.docs_base_url}/File/{big_id}", headers=DOCS_AUTH, stream=True, timeout=10
    ) as big:
        assert int(big.headers["Content-Length"]) == size
        received = sum(len(piece) for piece in big.iter_content(65536))
    assert received == size


def test_file_of_an_outbound_transmission_is_the_upload(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    fax_id = send(http, sandbox).json()["faxId"]
    file_id = status_of(http, sandbox, fax_id)["files"][0]["fileId"]  # type: ignore[index]
    answer = http.get(f"{sandbox.docs_base_url}/file/{file_id}", headers=DOCS_AUTH, timeout=10)
    assert hashlib.sha256(answer.content).digest() == hashlib.sha256(PDF).digest()


def test_hostile_names_travel_intact_in_json_and_header(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(
        {
            "received": [
                {
                    "faxTime": "2026-05-01T12:00:00",
                    "recipient": "+4612345678",
                    "files": [
                        {"fileName": "../../etc/x", "content": "a"},
                        {"fileName": "a\nb\x00c.pdf", "content": "b"},
                        {"fileName": 'Räk"ning.pdf', "content": "c"},
                    ],
                }
            ]
        }
    )
    doc = docs_post(
        http, srv, "Retrieve", {"dateFrom": "2026-05-01T12:00:00", "dateTo": "2026-05-01T12:00:00"}
    ).json()[0]
    names = [f["fileName"] for f in doc["files"]]
    assert names == ["../../etc/x", "a\nb\x00c.pdf", 'Räk"ning.pdf']
    headers = [
        http.get(f"{srv.docs_base_url}/File/{f['fileId']}", headers=DOCS_AUTH, timeout=10).headers[
            "Content-Disposition"
        ]
        for f in doc["files"]
    ]
    assert headers[0] == 'attachment; filename="../../etc/x"'
    # what cannot travel plainly is replaced there and carried exactly in filename*
    assert headers[1].startswith("attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''")
    assert unquote(headers[1].split("''", 1)[1]) == "a\nb\x00c.pdf"
    assert unquote(headers[2].split("''", 1)[1]) == 'Räk"ning.pdf'


def test_generated_hostile_names(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(
        {"generate_received": {"count": 20, "hostile_names": True, "start": "2026-05-01T12:00:00"}}
    )
    docs = docs_post(
        http, srv, "Retrieve", {"dateFrom": "2026-05-01T00:00:00", "dateTo": "2026-05-02T00:00:00"}
    ).json()
    names = [d["files"][0]["fileName"] for d in docs]
    assert "../../etc/x" in names
    assert "/abs/path.pdf" in names
    assert "" in names
    assert any(len(n) >= 300 for n in names)
    assert any("\x00" in n for n in names)
    assert any("\udce9" in n for n in names)  # cannot be encoded: invalid UTF-8 on disk
    assert names.count("duplicate.pdf") >= 2


def test_delete_removes_content_and_keeps_metadata(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    fax_id = send(http, sandbox).json()["faxId"]
    file_id = status_of(http, sandbox, fax_id)["files"][0]["fileId"]  # type: ignore[index]
    answer = http.delete(
        f"{sandbox.docs_base_url}/Delete", headers=DOCS_AUTH, json={"faxId": fax_id}, timeout=10
    )
    assert answer.status_code == 204
    assert answer.content == b""
    gone = http.get(f"{sandbox.docs_base_url}/File/{file_id}", headers=DOCS_AUTH, timeout=10)
    assert gone.status_code == 404
    assert status_of(http, sandbox, fax_id)["faxId"] == fax_id
    assert sandbox.stats()["docs"]["deleted"] == [fax_id]
    again = http.delete(
        f"{sandbox.docs_base_url}/Delete", headers=DOCS_AUTH, json={"faxId": fax_id}, timeout=10
    )
    assert again.status_code == 204
    assert sandbox.stats()["docs"]["deleted"] == [fax_id]


def test_delete_unknown_is_404_and_missing_id_400(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    url = f"{sandbox.docs_base_url}/Delete"
    assert (
        http.delete(url, headers=DOCS_AUTH, json={"faxId": "nope"}, timeout=10).status_code == 404
    )
    assert http.delete(url, headers=DOCS_AUTH, json={}, timeout=10).status_code == 400
    assert http.post(url, headers=DOCS_AUTH, json={"faxId": "x"}, timeout=10).status_code == 405


def test_unknown_file_is_404(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = http.get(f"{sandbox.docs_base_url}/File/nope", headers=DOCS_AUTH, timeout=10)
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("number", "supported"),
    [("+46812345611", True), ("+46812345678", False), ("+46812340000", True)],
)
def test_check_dft(
    make_sandbox: Callable[..., SandboxServer],
    http: requests.Session,
    number: str,
    supported: bool,
) -> None:
    srv = make_sandbox({"dft_numbers": ["+46812340000"]})
    answer = docs_post(http, srv, "CheckDirectFileTransfer", {"recipientFaxNumber": number})
    assert answer.status_code == 200
    assert answer.json() == {"recipientFaxNumber": number, "directFileTransferSupported": supported}
    assert srv.stats()["docs"]["dft_checks"] == {number: 1}


def test_check_dft_refuses_bad_numbers(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = docs_post(http, sandbox, "CheckDirectFileTransfer", {"recipientFaxNumber": "0812"})
    assert answer.status_code == 400
    assert "E.164" in answer.json()["message"]


def test_received_documents_added_while_running(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    answer = http.post(
        f"{sandbox.url}/_sandbox/received",
        json={
            "faxTime": "2026-05-01T12:00:00",
            "sender": "+4687000001",
            "recipient": "+4612345678",
            "type": "DirectFileTransfer",
            "files": [{"fileName": "x.pdf", "content_base64": base64.b64encode(PDF).decode()}],
        },
        timeout=10,
    )
    assert answer.status_code == 201
    fax_id = answer.json()["faxIds"][0]
    doc = status_of(http, sandbox, fax_id)
    assert doc["type"] == "DirectFileTransfer"
    assert doc["status"] == "Received"
    assert doc["faxTime"] == "2026-05-01T12:00:00"
    file_id = doc["files"][0]["fileId"]  # type: ignore[index]
    content = http.get(f"{sandbox.docs_base_url}/File/{file_id}", headers=DOCS_AUTH, timeout=10)
    assert content.content == PDF
    bad = http.post(f"{sandbox.url}/_sandbox/received", json={"files": []}, timeout=10)
    assert bad.status_code == 400
    assert "recipient" in bad.json()["message"]


# -- received documents still arriving, recipient arrays, finer times than shown -----------


def test_a_received_document_lists_sending_without_files_until_it_is_ready(
    sandbox: SandboxServer, http: requests.Session, clock: FakeClock
) -> None:
    fax_id = sandbox.add_received(
        {
            "recipient": "+4612345678",
            "ready_after": 5,
            "files": [{"fileName": "a.pdf", "content": "x"}],
        }
    )
    file_id = sandbox.state.docs_records[fax_id].files[0].file_id
    early = status_of(http, sandbox, fax_id)
    assert (early["status"], early["files"]) == ("Sending", [])
    url = f"{sandbox.docs_base_url}/File/{file_id}"
    assert http.get(url, headers=DOCS_AUTH, timeout=10).status_code == 404
    clock.advance(5)
    ready = status_of(http, sandbox, fax_id)
    assert ready["status"] == "Received" and len(ready["files"]) == 1  # type: ignore[arg-type]
    assert http.get(url, headers=DOCS_AUTH, timeout=10).content == b"x"


def test_a_received_document_may_list_its_recipients_as_an_array(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    numbers = ["+4698765432", "+4612345678"]
    fax_id = sandbox.add_received(
        {"recipient": numbers, "files": [{"fileName": "a.pdf", "content": "x"}]}
    )
    assert status_of(http, sandbox, fax_id)["recipientFaxNumber"] == numbers


def test_range_bounds_with_fractions_select_within_a_second(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    early = sandbox.add_received(
        {
            "faxTime": "2026-05-01T12:00:00.100",
            "recipient": "+4612345678",
            "files": [{"fileName": "a.pdf", "content": "x"}],
        }
    )
    late = sandbox.add_received(
        {
            "faxTime": "2026-05-01T12:00:00.900",
            "recipient": "+4612345678",
            "files": [{"fileName": "b.pdf", "content": "y"}],
        }
    )

    def listed(start: str, end: str) -> list[object]:
        answer = docs_post(http, sandbox, "Retrieve", {"dateFrom": start, "dateTo": end})
        assert answer.status_code == 200
        return [d["faxId"] for d in answer.json()]

    assert listed("2026-05-01T12:00:00", "2026-05-01T12:00:01") == [early, late]
    assert listed("2026-05-01T12:00:00", "2026-05-01T12:00:00.500") == [early]
    assert listed("2026-05-01T12:00:00.500", "2026-05-01T12:00:01") == [late]
    # Shown in whole seconds, as the API page's examples are.
    assert status_of(http, sandbox, late)["faxTime"] == "2026-05-01T12:00:00"
