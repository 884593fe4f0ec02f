"""Injected faults: error statuses, dropped connections, slow answers and bodies."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from faxd.sandbox import docs_api
from faxd.sandbox.faults import parse_fault
from faxd.sandbox.server import SandboxServer

from .sandbox_helpers import DOCS_AUTH, PDF, RETARUS_AUTH, docs_post, send


def _fault(**rule: Any) -> dict[str, Any]:
    return {"faults": [rule]}


def test_status_fault_with_retry_after_seconds_then_spent(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(
        _fault(api="docs", endpoint="send", action="status", status=429, retry_after="2")
    )
    first = send(http, srv)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "2"
    assert first.json()["status"] == 429
    assert send(http, srv).status_code == 201
    stats = srv.stats()["docs"]
    assert stats["send_requests"] == 2
    assert stats["accepted"] == 1


def test_status_fault_with_http_date_and_times(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    srv = make_sandbox(
        _fault(api="docs", endpoint="any", action="status", status=503, retry_after=date, times=2)
    )
    answers = [docs_post(http, srv, "Retrieve", {"faxId": "x"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 404]
    assert answers[0].headers["Retry-After"] == date


def test_always_never_runs_out(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(
        _fault(api="docs", endpoint="send", action="status", status=500, times="always")
    )
    assert [send(http, srv).status_code for _ in range(4)] == [500] * 4
    srv.clear_faults()
    assert send(http, srv).status_code == 201


def test_drop_before_closes_without_processing(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(_fault(api="docs", endpoint="send", action="drop_before"))
    with pytest.raises(requests.ConnectionError):
        send(http, srv)
    stats = srv.stats()
    assert stats["docs"]["send_requests"] == 1
    assert stats["docs"]["accepted"] == 0
    assert stats["docs"]["transmissions"] == {}
    assert stats["dropped_connections"] == 1


def test_drop_after_accepts_the_upload_although_the_client_sees_a_dropped_connection(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(_fault(api="docs", endpoint="send", action="drop_after"))
    with pytest.raises(requests.ConnectionError):
        send(http, srv, recipient="+46812345678")
    stats = srv.stats()["docs"]
    assert stats["accepted"] == 1
    assert stats["uploads_by_sha256"] == {hashlib.sha256(PDF).hexdigest(): 1}
    (transmission,) = stats["transmissions"].values()
    assert transmission["recipient"] == "+46812345678"
    assert transmission["status"] == "Sending"


def test_status_after_processes_the_upload_then_answers_the_error(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(_fault(api="docs", endpoint="send", action="status_after", status=504))
    assert send(http, srv, recipient="+46812345678").status_code == 504
    stats = srv.stats()["docs"]
    assert stats["accepted"] == 1
    (transmission,) = stats["transmissions"].values()
    assert transmission["recipient"] == "+46812345678"


def test_match_limits_a_rule_to_one_recipient(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(
        _fault(api="docs", endpoint="send", action="status", status=503, match="345600")
    )
    assert send(http, srv, recipient="+46812345678").status_code == 201
    assert send(http, srv, recipient="+46812345600").status_code == 503
    assert send(http, srv, recipient="+46812345600").status_code == 201


def test_match_on_status_polls_of_one_transmission(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    target = send(http, sandbox, recipient="+46812345600").json()["faxId"]
    other = send(http, sandbox, recipient="+46812345678").json()["faxId"]
    sandbox.add_fault(
        {
            "api": "docs",
            "endpoint": "retrieve",
            "action": "status",
            "status": 500,
            "match": "345600",
        }
    )
    assert docs_post(http, sandbox, "Retrieve", {"faxId": other}).status_code == 200
    assert docs_post(http, sandbox, "Retrieve", {"faxId": target}).status_code == 500


def test_slow_still_answers_correctly(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(_fault(api="docs", endpoint="check_dft", action="slow", delay=0.05))
    answer = docs_post(http, srv, "CheckDirectFileTransfer", {"recipientFaxNumber": "+46812345611"})
    assert answer.json()["directFileTransferSupported"] is True
    assert srv.stats()["faults"]["fired"] == [
        {"api": "docs", "endpoint": "check_dft", "action": "slow"}
    ]


def test_slow_body_streams_the_whole_file(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(
        {
            "received": [
                {
                    "faxId": "slow",
                    "faxTime": "2026-05-01T12:00:00",
                    "recipient": "+4612345678",
                    "files": [{"fileName": "s.pdf", "size": 5000}],
                }
            ],
            "faults": [
                {
                    "api": "docs",
                    "endpoint": "file",
                    "action": "slow_body",
                    "delay": 0.01,
                    "chunk": 1000,
                }
            ],
        }
    )
    file_id = docs_post(http, srv, "Retrieve", {"faxId": "slow"}).json()["files"][0]["fileId"]
    with http.get(
        f"{srv.docs_base_url}/File/{file_id}", headers=DOCS_AUTH, stream=True, timeout=10
    ) as answer:
        pieces = list(answer.raw.stream(1000))
    assert sum(len(p) for p in pieces) == 5000
    assert b"".join(pieces).startswith(b"%PDF-")


def test_stop_interrupts_a_slow_answer(make_sandbox: Callable[..., SandboxServer]) -> None:
    srv = make_sandbox(_fault(api="docs", endpoint="any", action="slow", delay=600))
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(
                requests.post(
                    f"{srv.docs_base_url}/Retrieve",
                    headers=DOCS_AUTH,
                    json={"faxId": "x"},
                    timeout=30,
                )
            )
        except requests.ConnectionError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    while not srv.stats()["faults"]["fired"]:
        threading.Event().wait(0.01)
    srv.stop()
    worker.join()
    assert isinstance(outcome[0], requests.ConnectionError)


def test_faults_added_over_http(sandbox: SandboxServer, http: requests.Session) -> None:
    added = http.post(
        f"{sandbox.url}/_sandbox/faults",
        json=[{"api": "docs", "endpoint": "send", "action": "status", "status": 502}],
        timeout=10,
    )
    assert added.status_code == 201
    assert added.json()["pending"][0]["status"] == 502
    assert send(http, sandbox).status_code == 502
    bad = http.post(
        f"{sandbox.url}/_sandbox/faults", json={"api": "docs", "action": "explode"}, timeout=10
    )
    assert bad.status_code == 400
    assert "action" in bad.json()["message"]
    http.post(
        f"{sandbox.url}/_sandbox/faults", json={"api": "docs", "action": "drop_before"}, timeout=10
    )
    assert http.delete(f"{sandbox.url}/_sandbox/faults", timeout=10).status_code == 204
    assert send(http, sandbox).status_code == 201


def test_retarus_submit_drop_after_counts_the_job(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(_fault(api="retarus", endpoint="submit", action="drop_after"))
    job = {
        "recipients": [{"number": "+4989123456"}],
        "documents": [{"name": "a.pdf", "data": base64.b64encode(PDF).decode()}],
    }
    with pytest.raises(requests.ConnectionError):
        http.post(f"{srv.retarus_submit_url}/999901/fax", auth=RETARUS_AUTH, json=job, timeout=10)
    stats = srv.stats()["retarus"]
    assert stats["accepted"] == 1
    assert stats["uploads_by_sha256"] == {hashlib.sha256(PDF).hexdigest(): 1}
    assert len(stats["jobs"]) == 1


def test_retarus_status_fault_uses_the_retarus_error_shape(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(_fault(api="retarus", endpoint="reports", action="status", status=503))
    answer = http.get(
        f"{srv.retarus_datacenter_urls[0]}/999901/fax/reports", auth=RETARUS_AUTH, timeout=10
    )
    assert answer.status_code == 503
    assert answer.json() == {"code": 503, "message": "Injected fault: status 503."}


@pytest.mark.parametrize(
    ("rule", "needle"),
    [
        ({"api": "fax", "action": "slow"}, "api"),
        ({"api": "docs", "endpoint": "submit", "action": "slow"}, "endpoint"),
        ({"api": "docs", "action": "status", "status": 200}, "status"),
        ({"api": "docs", "action": "slow", "delay": -1}, "delay"),
        ({"api": "docs", "action": "slow", "times": 0}, "times"),
        ({"api": "docs", "action": "slow", "match": ""}, "match"),
        ({"api": "docs", "action": "slow", "colour": "red"}, "colour"),
        ("slow", "mapping"),
    ],
)
def test_bad_fault_rules_are_named(rule: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_fault(rule, "faults[0]")


def test_an_emulator_bug_answers_500_and_the_server_lives_on(
    sandbox: SandboxServer, http: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(docs_api, "handle", broken)
    answer = docs_post(http, sandbox, "Retrieve", {"faxId": "x"})
    assert answer.status_code == 500
    assert "sandbox" in answer.json()["message"]
    monkeypatch.undo()
    assert docs_post(http, sandbox, "Retrieve", {"faxId": "x"}).status_code == 404
