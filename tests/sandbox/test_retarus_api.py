"""Retarus Fax-for-Applications: auth, job validation, HA vs data centers, reports."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests

from faxd.clock import FakeClock
from faxd.sandbox.server import SandboxServer

from .sandbox_helpers import PDF, RETARUS_AUTH

CUST = "999901"


def job(number: str = "+4989123456", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipients": [{"number": number}],
        "documents": [{"name": "letter.pdf", "data": base64.b64encode(PDF).decode()}],
    }
    body.update(extra)
    return body


def submit(
    http: requests.Session, srv: SandboxServer, body: object, url: str | None = None
) -> requests.Response:
    return http.post(
        f"{url or srv.retarus_submit_url}/{CUST}/fax", auth=RETARUS_AUTH, json=body, timeout=10
    )


def report(http: requests.Session, url: str, job_id: str, method: str = "GET") -> requests.Response:
    return http.request(method, f"{url}/{CUST}/fax/reports/{job_id}", auth=RETARUS_AUTH, timeout=10)


def find_report(http: requests.Session, srv: SandboxServer, job_id: str) -> dict[str, Any]:
    """Ask every data center, as faxd must; exactly one has the report."""
    answers = [report(http, url, job_id) for url in srv.retarus_datacenter_urls]
    assert sorted(a.status_code for a in answers) == [200, 404]
    found: dict[str, Any] = next(a for a in answers if a.status_code == 200).json()
    return found


@pytest.mark.parametrize("auth", [None, ("faxd", "wrong"), ("other", "sandbox-password")])
def test_bad_or_missing_basic_auth_is_401(
    sandbox: SandboxServer, http: requests.Session, auth: tuple[str, str] | None
) -> None:
    answer = http.post(
        f"{sandbox.retarus_submit_url}/{CUST}/fax", auth=auth, json=job(), timeout=10
    )
    assert answer.status_code == 401
    assert answer.json() == {"code": 401, "message": "Authentication failed"}
    stats = sandbox.stats()["retarus"]
    assert stats["submit_requests"] == 1
    assert stats["accepted"] == 0


def test_another_customer_number_is_403(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = http.post(
        f"{sandbox.retarus_submit_url}/123456/fax", auth=RETARUS_AUTH, json=job(), timeout=10
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == 403


def test_scenario_credentials_replace_the_defaults(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox(
        {"retarus_customer_number": 4711, "retarus_username": "u", "retarus_password": "p"}
    )
    answer = http.post(
        f"{srv.retarus_submit_url}/4711/fax", auth=("u", "p"), json=job(), timeout=10
    )
    assert answer.status_code == 200
    assert submit(http, srv, job()).status_code == 401


def test_submit_answers_a_job_id_like_retarus(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    answer = submit(http, sandbox, job())
    assert answer.status_code == 200
    job_id = answer.json()["jobId"]
    assert re.fullmatch(r"FJ[A-Z0-9]{20}", job_id)
    stats = sandbox.stats()["retarus"]
    assert stats["accepted"] == 1
    assert stats["uploads_by_sha256"] == {hashlib.sha256(PDF).hexdigest(): 1}


def test_jobs_alternate_between_data_centers_and_ha_has_no_reports(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    ids = [submit(http, sandbox, job()).json()["jobId"] for _ in range(2)]
    jobs = sandbox.stats()["retarus"]["jobs"]
    assert sorted(jobs[i]["datacenter"] for i in ids) == ["dc1", "dc2"]
    for job_id in ids:
        assert find_report(http, sandbox, job_id)["jobId"] == job_id
        ha = report(http, sandbox.retarus_submit_url, job_id)
        assert ha.status_code == 404
        assert ha.json()["code"] == 404
    listing = http.get(
        f"{sandbox.retarus_submit_url}/{CUST}/fax/reports", auth=RETARUS_AUTH, timeout=10
    )
    assert listing.status_code == 404
    assert sandbox.stats()["retarus"]["ha_report_queries"] == 3


def test_hash_placement_is_stable(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox({"retarus_placement": "hash"})
    job_id = submit(http, srv, job()).json()["jobId"]
    expected = ("dc1", "dc2")[hashlib.sha256(job_id.encode()).digest()[0] % 2]
    assert srv.stats()["retarus"]["jobs"][job_id]["datacenter"] == expected


def test_swagger_required_refuses_a_job_without_the_swaggers_required_fields(
    make_sandbox: Callable[..., SandboxServer], http: requests.Session
) -> None:
    srv = make_sandbox({"retarus_required": "swagger"})
    refused = submit(http, srv, job())
    assert refused.status_code == 400
    assert "renderingOptions is required" in refused.json()["message"]
    no_purge = job(renderingOptions={"paperFormat": "A4"}, statusReportOptions={})
    assert "statusReportOptions.reportPurgeTs is required" in submit(http, srv, no_purge).text
    full = job(
        renderingOptions={"paperFormat": "A4"},
        statusReportOptions={"reportPurgeTs": "2018-11-03T20:14:37.098+02:00"},
    )
    assert submit(http, srv, full).status_code == 200


def test_submit_to_a_data_center_lands_there(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    dc2 = sandbox.retarus_datacenter_urls[1]
    job_id = submit(http, sandbox, job(), url=dc2).json()["jobId"]
    assert report(http, dc2, job_id).status_code == 200
    assert report(http, sandbox.retarus_datacenter_urls[0], job_id).status_code == 404


def test_report_goes_pending_then_ok(
    sandbox: SandboxServer, http: requests.Session, clock: FakeClock
) -> None:
    body = job(reference={"customerDefinedId": "invoice-4711", "billingCode": "A1"})
    job_id = submit(http, sandbox, body).json()["jobId"]
    pending = find_report(http, sandbox, job_id)
    (rcpt,) = pending["recipientStatus"]
    assert rcpt["status"] == "PENDING"
    assert pending["pages"] == 0
    assert pending["reference"] == {"customerDefinedId": "invoice-4711", "billingCode": "A1"}
    clock.advance(10)
    done = find_report(http, sandbox, job_id)
    (rcpt,) = done["recipientStatus"]
    assert rcpt["status"] == "OK"
    assert rcpt["reason"] == "OK"
    assert rcpt["number"] == "+4989123456"
    assert rcpt["sentToNumber"] == "004989123456"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rcpt["sentTs"])
    assert isinstance(rcpt["durationInSecs"], int)
    assert done["pages"] == 1


@pytest.mark.parametrize(
    ("number", "status"),
    [
        ("+4989123498", "BUSY"),
        ("+4989123499", "NOFAX"),
        ("004989123499", "NOFAX"),
        ("+4989000001", "RING_TO"),
        ("+4989000002", "NOFAX"),
    ],
)
def test_failing_numbers_end_with_their_status_and_reason(
    make_sandbox: Callable[..., SandboxServer],
    http: requests.Session,
    clock: FakeClock,
    number: str,
    status: str,
) -> None:
    srv = make_sandbox({"failing_numbers": {"+4989000001": "RING_TO", "+4989000002": None}})
    job_id = submit(http, srv, job(number)).json()["jobId"]
    clock.advance(1)
    (rcpt,) = find_report(http, srv, job_id)["recipientStatus"]
    assert rcpt["status"] == status
    assert rcpt["reason"]


def test_content_that_does_not_render_fails_per_recipient(
    sandbox: SandboxServer, http: requests.Session, clock: FakeClock
) -> None:
    body = job()
    body["documents"][0]["data"] = base64.b64encode(b"not a pdf").decode()
    job_id = submit(http, sandbox, body).json()["jobId"]
    clock.advance(10)
    (rcpt,) = find_report(http, sandbox, job_id)["recipientStatus"]
    assert rcpt["status"] == "RENDERING_ERROR"


def test_duplicate_customer_defined_id_is_409(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    body = job(reference={"customerDefinedId": "faxd-job-1"})
    assert submit(http, sandbox, body).status_code == 200
    again = submit(http, sandbox, body)
    assert again.status_code == 409
    assert again.json()["code"] == 409
    assert sandbox.stats()["retarus"]["accepted"] == 1
    assert sandbox.stats()["retarus"]["submit_requests"] == 2


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"documents": [{"name": "a.pdf", "data": _b64(PDF)}]}, "recipients is required"),
        (job() | {"recipients": []}, "recipients is required"),
        (job("4989123456"), "international format"),
        (job("+49 89 123456"), "international format"),
        (job() | {"recipients": [{"number": "+4989123456", "fax": 1}]}, "unknown field"),
        (job() | {"documents": []}, "no document"),
        (job() | {"documents": [{"name": "a.docx", "data": _b64(PDF)}]}, "document format"),
        (job() | {"documents": [{"name": "a" * 29 + ".pdf", "data": _b64(PDF)}]}, "1-32"),
        (job() | {"documents": [{"name": "my letter.pdf", "data": _b64(PDF)}]}, "1-32"),
        (job() | {"documents": [{"name": "a.pdf", "data": "***"}]}, "base64"),
        (job() | {"documents": [{"name": "a.pdf", "data": ""}]}, "base64"),
        (job() | {"documents": [{"name": "a.pdf"}]}, "neither data nor reference"),
        (
            job() | {"documents": [{"name": "a.txt", "data": _b64(b"hi"), "charset": "EBCDIC"}]},
            "charset",
        ),
        (job() | {"priority": "high"}, "unknown field job.priority"),
        (
            job()
            | {"meta": {"customerReference": "x", "jobValid": {"start": "2026-01-01T10:00:00"}}},
            "time zone",
        ),
        (
            job() | {"meta": {"customerReference": "x", "jobValid": {"end": "tomorrow"}}},
            "Job Expiration",
        ),
        (
            job()
            | {
                "meta": {
                    "customerReference": "x",
                    "jobValid": {"start": "2026-01-02T10:00:00Z", "end": "2026-01-01T10:00:00Z"},
                }
            },
            "not after start",
        ),
        (job() | {"meta": {"jobValid": {"end": "PT80M"}}}, "customerReference is required"),
        (job() | {"renderingOptions": {"paperFormat": "A3"}}, "paperFormat"),
        (job() | {"transportOptions": {"csid": "x" * 21}}, "csid"),
        (job() | {"reference": {"customerDefinedId": "x" * 257}}, "customerDefinedId"),
        ([job()], "must be a JSON object"),
    ],
)
def test_job_validation_errors(
    sandbox: SandboxServer, http: requests.Session, body: object, needle: str
) -> None:
    answer = submit(http, sandbox, body)
    assert answer.status_code == 400, answer.text
    payload = answer.json()
    assert payload["code"] == 400
    assert payload["message"].startswith("Validation of job request failed: '")
    assert needle in payload["message"]
    assert sandbox.stats()["retarus"]["accepted"] == 0


@pytest.mark.parametrize(
    "extra",
    [
        {
            "meta": {
                "customerReference": "x",
                "jobValid": {"start": "2026-01-01T10:00:00+01:00", "end": "PT80M"},
            }
        },
        {"meta": {"customerReference": "x", "jobValid": {"end": "2026-12-31T23:59:59Z"}}},
        {"renderingOptions": {"paperFormat": "A4", "resolution": "HIGH"}},
        {"transportOptions": {"csid": "faxd", "isExpress": False}},
        {
            "documents": [
                {"name": "note.txt", "data": _b64("Hej".encode("utf-16")), "charset": "UTF-16"}
            ]
        },
        {"documents": [{"name": "x-1_2.TIF", "data": _b64(b"II*\x00rest")}]},
        {"documents": [{"name": "a.pdf", "reference": "https://example.com/a.pdf"}]},
        {
            "recipients": [
                {"number": "004989123456", "properties": [{"key": "ToName", "value": "Acme"}]}
            ]
        },
    ],
)
def test_valid_variants_are_accepted(
    sandbox: SandboxServer, http: requests.Session, extra: dict[str, Any]
) -> None:
    answer = submit(http, sandbox, job() | extra)
    assert answer.status_code == 200, answer.text


def test_the_16_digit_number_of_retarus_own_examples_is_accepted(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    answer = submit(http, sandbox, job("004989312000000000"))
    assert answer.status_code == 200, answer.text
    assert submit(http, sandbox, job("0049893120000000000")).status_code == 400


def test_submit_needs_json(sandbox: SandboxServer, http: requests.Session) -> None:
    answer = http.post(
        f"{sandbox.retarus_submit_url}/{CUST}/fax", auth=RETARUS_AUTH, data=b"x", timeout=10
    )
    assert answer.status_code == 415
    broken = http.post(
        f"{sandbox.retarus_submit_url}/{CUST}/fax",
        auth=RETARUS_AUTH,
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert broken.status_code == 400
    assert broken.json()["message"].startswith("JSON not processable")


def test_delete_report_only_in_its_data_center(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    job_id = submit(http, sandbox, job()).json()["jobId"]
    where = sandbox.stats()["retarus"]["jobs"][job_id]["datacenter"]
    home, other = (
        sandbox.retarus_datacenter_urls
        if where == "dc1"
        else tuple(reversed(sandbox.retarus_datacenter_urls))
    )
    assert report(http, other, job_id, "DELETE").status_code == 404
    deleted = report(http, home, job_id, "DELETE")
    assert deleted.status_code == 200
    assert deleted.json() == {"jobId": job_id, "deleted": True}
    assert report(http, home, job_id).status_code == 404
    assert sandbox.stats()["retarus"]["deleted_reports"] == [job_id]


def test_list_delete_all_and_bulk(
    sandbox: SandboxServer, http: requests.Session, clock: FakeClock
) -> None:
    dc1, dc2 = sandbox.retarus_datacenter_urls
    ids = [submit(http, sandbox, job(), url=dc1).json()["jobId"] for _ in range(3)]
    listed = http.get(f"{dc1}/{CUST}/fax/reports", auth=RETARUS_AUTH, timeout=10).json()
    assert [r["jobId"] for r in listed["reports"]] == ids
    assert http.get(f"{dc2}/{CUST}/fax/reports", auth=RETARUS_AUTH, timeout=10).json() == {
        "reports": []
    }
    # only completed reports go with DELETE all
    pending = http.delete(f"{dc1}/{CUST}/fax/reports", auth=RETARUS_AUTH, timeout=10).json()
    assert pending == {"reports": []}
    clock.advance(10)
    bulk = http.post(
        f"{dc1}/{CUST}/fax/reports",
        auth=RETARUS_AUTH,
        json={"action": "get", "jobIds": [ids[0], "FJNOTHERE00000000000000"]},
        timeout=10,
    ).json()
    assert [r["jobId"] for r in bulk["reports"]] == [ids[0]]
    removed = http.post(
        f"{dc1}/{CUST}/fax/reports",
        auth=RETARUS_AUTH,
        json={"action": "DELETE", "jobIds": [ids[0], "FJNOTHERE00000000000000"]},
        timeout=10,
    ).json()
    assert removed == {
        "reports": [
            {"jobId": ids[0], "deleted": True},
            {"jobId": "FJNOTHERE00000000000000", "deleted": False, "reason": "NOT_FOUND"},
        ]
    }
    rest = http.delete(f"{dc1}/{CUST}/fax/reports", auth=RETARUS_AUTH, timeout=10).json()
    assert rest == {"reports": [{"jobId": i, "deleted": True} for i in ids[1:]]}
    assert sandbox.stats()["retarus"]["deleted_reports"] == ids


def test_bulk_refuses_bad_bodies(sandbox: SandboxServer, http: requests.Session) -> None:
    url = f"{sandbox.retarus_datacenter_urls[0]}/{CUST}/fax/reports"
    for body in (
        {"action": "PATCH", "jobIds": []},
        {"action": "GET", "jobIds": "FJ1"},
        {"action": "GET", "jobIds": ["x"] * 1001},
    ):
        answer = http.post(url, auth=RETARUS_AUTH, json=body, timeout=10)
        assert answer.status_code == 400
        assert answer.json()["code"] == 400


def test_unknown_paths_and_methods(sandbox: SandboxServer, http: requests.Session) -> None:
    dc1 = sandbox.retarus_datacenter_urls[0]
    assert http.get(f"{dc1}/{CUST}/fax", auth=RETARUS_AUTH, timeout=10).status_code == 405
    assert http.get(f"{dc1}/{CUST}/sms", auth=RETARUS_AUTH, timeout=10).status_code == 404
    assert (
        http.get(f"{sandbox.url}/retarus/dc3/rest/v1/{CUST}/fax/reports", timeout=10).status_code
        == 404
    )


def test_faults_match_retarus_recipients_on_submit_and_report(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    sandbox.add_fault(
        {"api": "retarus", "endpoint": "submit", "action": "status", "status": 500, "match": "777"}
    )
    assert submit(http, sandbox, job("+4989123456")).status_code == 200
    assert submit(http, sandbox, job("+4989777000")).status_code == 500
    job_id = submit(http, sandbox, job("+4989777000")).json()["jobId"]
    sandbox.add_fault(
        {"api": "retarus", "endpoint": "report", "action": "status", "status": 503, "match": "777"}
    )
    home = sandbox.retarus_datacenter_urls[
        0 if sandbox.stats()["retarus"]["jobs"][job_id]["datacenter"] == "dc1" else 1
    ]
    assert report(http, home, job_id).status_code == 503
    assert report(http, home, job_id).status_code == 200


def test_in_process_views_of_one_job_and_one_transmission(
    sandbox: SandboxServer, http: requests.Session, clock: FakeClock
) -> None:
    job_id = submit(http, sandbox, job("+4989123498")).json()["jobId"]
    before = sandbox.state.retarus_report(job_id)
    assert before is not None
    assert before["recipientStatus"][0]["status"] == "PENDING"
    clock.advance(10)
    after = sandbox.state.retarus_report(job_id)
    assert after is not None
    assert after["recipientStatus"][0]["status"] == "BUSY"
    assert sandbox.state.retarus_report("FJNOPE") is None
    assert sandbox.state.docs_status("unknown") is None
