"""RetarusProvider's routing and error handling, against canned answers from a loopback
server.

The emulator contract tests cover the full conversation; these pin the decisions that
need answers the emulator does not give on demand: one data center failing while the
other says 404, a full report list, a 409 whose job cannot be found. The routes name
Retarus' own addresses (`HA`, `DC1`, `DC2`); the server stands in for all three at one
port, one path prefix each."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from urllib3._collections import HTTPHeaderDict

from faxd.errors import AuthError, OutcomeUnknownError, RejectedError, TransientError
from faxd.model import Accepted, Limits, Method, OutgoingFile, Submission
from faxd.providers.base import GateShut
from faxd.providers.retarus import RetarusProvider
from faxd.settings import RetarusOptions, RetarusProviderSettings, Secret

FIXTURES = Path(__file__).parent / "fixtures" / "retarus"
HA = "https://ha.example/rest/v1"
DC1 = "https://dc1.example/rest/v1"
DC2 = "https://dc2.example/rest/v1"
PASSWORD = "s3cret-pass-word"
LIMITS = Limits(max_files=5, max_file_size=16 * 1024 * 1024, extensions={})
READ_TIMEOUT = 0.5
HANG = object()  # an answer that never comes: the server holds the request past the timeout

Answer = tuple[int, Any]


@dataclass
class Seen:
    method: str
    url: str  # as Retarus' own address: https://dc1.example/...
    headers: Mapping[str, str]
    body: bytes


@dataclass
class FakeRetarus:
    """Answers by (method, url) from `routes`; unknown URLs answer 404 like an empty DC."""

    routes: dict[tuple[str, str], Callable[[Seen], Answer] | Answer] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def local(self, address: str) -> str:
        """Where the server answers for one of Retarus' addresses."""
        host = address.split("/")[2].split(".")[0]
        return address.replace(f"https://{host}.example", f"http://127.0.0.1:{self.port}/{host}")

    def answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        host, _, rest = path.lstrip("/").partition("/")
        seen = Seen(method, f"https://{host}.example/{rest}", headers, body)
        self.seen.append(seen)
        route = self.routes.get((seen.method, seen.url), (404, {"code": 404, "message": "nf"}))
        return route(seen) if callable(route) else route


def _handler(fake: FakeRetarus) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = HTTPHeaderDict(list(self.headers.items()))
            status, payload = fake.answer(self.command, self.path, headers, body)
            if payload is HANG:
                time.sleep(READ_TIMEOUT * 3)
                self.close_connection = True
                return
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def settings(fake: FakeRetarus) -> RetarusProviderSettings:
    return RetarusProviderSettings(
        name="retarus",
        customer_number="999901",
        username="faxd",
        password=Secret(PASSWORD),
        submit_url=fake.local(HA),
        datacenter_urls=(fake.local(DC1), fake.local(DC2)),
        read_timeout=READ_TIMEOUT,
    )


@pytest.fixture
def fake() -> Iterator[FakeRetarus]:
    fake = FakeRetarus()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = False  # server_close waits for every connection's thread
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def provider(fake: FakeRetarus) -> Iterator[RetarusProvider]:
    provider = RetarusProvider(settings(fake), limits=LIMITS)
    yield provider
    provider.close()


def submission(tmp_path: Path, *files: tuple[str, bytes], **extra: Any) -> Submission:
    outgoing = []
    for name, data in files or (("Rechnung März.pdf", b"%PDF-1.4 test"),):
        path = tmp_path / name
        path.write_bytes(data)
        outgoing.append(OutgoingFile(path, name, "application/pdf", len(data)))
    values: dict[str, Any] = {
        "key": "job-1#0",
        "job_id": "job-1",
        "sender": "+4612345678",
        "recipient": "+498912345678",
        "files": tuple(outgoing),
        "dft": False,
    }
    values.update(extra)
    return Submission(**values)


def report(job_id: str, status: str, key: str | None = None, reason: str = "") -> dict[str, Any]:
    rcpt = {"number": "+498912345678", "status": status, "reason": reason, "durationInSecs": 0}
    body: dict[str, Any] = {"jobId": job_id, "recipientStatus": [rcpt], "pages": 1}
    if key is not None:
        body["reference"] = {"customerDefinedId": key}
    return body


SUBMIT = ("POST", f"{HA}/999901/fax")


def reports(dc: str) -> tuple[str, str]:
    return ("GET", f"{dc}/999901/fax/reports")


def one(dc: str, job_id: str, method: str = "GET") -> tuple[str, str]:
    return (method, f"{dc}/999901/fax/reports/{job_id}")


# --- submit ----------------------------------------------------------------------------


def test_submit_posts_a_streamed_job_with_basic_auth(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[SUBMIT] = (201, {"jobId": "FJ1"})
    text = "Grüße, 5 €".encode("cp1252")
    sub = submission(
        tmp_path,
        ("Rechnung März.pdf", b"%PDF-1.4 test"),
        ("note.txt", text),
        reference="Invoice 4711",
        retarus=RetarusOptions(express=True),
    )
    assert provider.submit(sub) == Accepted("FJ1", Method.FAX)
    [post] = fake.seen
    assert post.headers["Content-Type"].startswith("application/json")
    assert int(post.headers["Content-Length"]) == len(post.body)
    assert "Transfer-Encoding" not in post.headers
    expected = base64.b64encode(f"faxd:{PASSWORD}".encode()).decode()
    assert post.headers["Authorization"] == f"Basic {expected}"
    job = json.loads(post.body)
    assert job["reference"] == {"customerDefinedId": "job-1#0"}
    assert job["recipients"] == [{"number": "+498912345678"}]
    assert job["transportOptions"] == {"csid": "+4612345678", "isExpress": True}
    assert job["meta"] == {"customerReference": "Invoice 4711"}
    pdf, txt = job["documents"]
    assert pdf["name"] == "Rechnung_Marz.pdf" and "charset" not in pdf
    assert base64.b64decode(pdf["data"]) == b"%PDF-1.4 test"
    assert txt == {
        "name": "note.txt",
        "charset": "Windows-1252",
        "data": base64.b64encode(text).decode(),
    }


def test_submit_refuses_an_unconverted_file_without_a_request(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    with pytest.raises(RejectedError, match=r"scan\.png: Retarus does not take \.png"):
        provider.submit(submission(tmp_path, ("scan.png", b"\x89PNG")))
    assert fake.seen == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RejectedError),
        (401, AuthError),
        (500, OutcomeUnknownError),  # may have been acted on: looked up, not resent
        (503, OutcomeUnknownError),  # a load balancer's, maybe after the job was taken
        (520, OutcomeUnknownError),
    ],
)
def test_submit_error_statuses(
    provider: RetarusProvider,
    fake: FakeRetarus,
    tmp_path: Path,
    status: int,
    error: type[Exception],
) -> None:
    fake.routes[SUBMIT] = (status, {"code": status, "message": f"failure {status}"})
    with pytest.raises(error) as caught:
        provider.submit(submission(tmp_path))
    assert f"failure {status}" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("fixture", "status", "error", "words"),
    [
        ("error_400.json", 400, RejectedError, "No number available for rcpt"),
        ("error_401.json", 401, AuthError, "Authentication failed"),
    ],
)
def test_submit_errors_quote_retarus_error_bodies(
    provider: RetarusProvider,
    fake: FakeRetarus,
    tmp_path: Path,
    fixture: str,
    status: int,
    error: type[Exception],
    words: str,
) -> None:
    body = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
    fake.routes[SUBMIT] = (status, body)
    with pytest.raises(error, match=words) as caught:
        provider.submit(submission(tmp_path))
    assert "job-1#0" in str(caught.value)


def test_submit_whose_answer_is_lost_is_outcome_unknown(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[SUBMIT] = (0, HANG)
    with pytest.raises(OutcomeUnknownError):
        provider.submit(submission(tmp_path))


def test_submit_answered_without_job_id_is_outcome_unknown(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[SUBMIT] = (200, {"status": "queued"})
    with pytest.raises(OutcomeUnknownError, match="without a job id"):
        provider.submit(submission(tmp_path))


def test_409_is_reconciled_by_reference(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[SUBMIT] = (409, {"code": 409, "message": "duplicate job"})
    fake.routes[reports(DC1)] = (200, {"reports": [report("FJOTHER", "OK", "job-9#0")]})
    fake.routes[reports(DC2)] = (200, {"reports": [report("FJMINE", "PENDING", "job-1#0")]})
    assert provider.submit(submission(tmp_path)) == Accepted("FJMINE", Method.FAX)
    assert not any(s.url.startswith(HA) and s.method == "GET" for s in fake.seen)


def test_409_whose_job_is_not_listed_is_outcome_unknown(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[SUBMIT] = (409, {"code": 409, "message": "duplicate job"})
    fake.routes[reports(DC1)] = (200, {"reports": []})
    with pytest.raises(OutcomeUnknownError, match="already exists"):
        provider.submit(submission(tmp_path))


@contextmanager
def _recording_gate(fake: FakeRetarus, seen: list[tuple[str, int]]) -> Iterator[None]:
    seen.append(("entered", len(fake.seen)))
    yield
    seen.append(("left", len(fake.seen)))


def test_the_gate_holds_the_request_and_a_409s_listings_but_not_the_build(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[SUBMIT] = (409, {"code": 409, "message": "duplicate job"})
    fake.routes[reports(DC2)] = (200, {"reports": [report("FJMINE", "PENDING", "job-1#0")]})
    seen: list[tuple[str, int]] = []
    gate = partial(_recording_gate, fake, seen)
    assert provider.submit(submission(tmp_path), gate) == Accepted("FJMINE", Method.FAX)
    # Entered before the job went out; left after it and the report listings, which are
    # requests like any other and count against the same slot.
    assert seen == [("entered", 0), ("left", len(fake.seen))]
    assert len(fake.seen) >= 2


def test_a_shut_gate_sends_no_job(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[SUBMIT] = (201, {"jobId": "FJ1"})

    def shut() -> AbstractContextManager[None]:
        raise GateShut

    with pytest.raises(GateShut):
        provider.submit(submission(tmp_path), shut)
    assert fake.seen == []


# --- status ----------------------------------------------------------------------------


def test_status_asks_each_data_center_never_the_ha_url(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    fake.routes[one(DC2, "FJ1")] = (200, report("FJ1", "BUSY", reason="busy"))
    status = provider.status("FJ1")
    assert (status.final, status.delivered, status.status, status.reason) == (
        True,
        False,
        "BUSY",
        "busy",
    )
    assert [s.url for s in fake.seen] == [
        f"{DC1}/999901/fax/reports/FJ1",
        f"{DC2}/999901/fax/reports/FJ1",
    ]


def test_status_stops_at_the_first_data_center_that_has_it(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    fake.routes[one(DC1, "FJ1")] = (200, report("FJ1", "OK", reason="OK"))
    assert provider.status("FJ1").delivered
    assert len(fake.seen) == 1


def test_status_never_takes_another_jobs_report_for_this_one(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    # A data center (or a proxy before it) answering with another job's OK report must
    # not file this job as delivered.
    fake.routes[one(DC1, "FJ1")] = (200, report("FJOTHER", "OK", reason="OK"))
    with pytest.raises(TransientError, match="FJOTHER"):
        provider.status("FJ1")
    fake.routes[one(DC1, "FJ1")] = (200, report("fj1", "OK", reason="OK"))
    assert provider.status("FJ1").delivered


def test_status_without_any_report_is_pending(provider: RetarusProvider, fake: FakeRetarus) -> None:
    status = provider.status("FJ1")
    assert (status.status, status.final) == ("PENDING", False)


def test_status_does_not_guess_when_a_data_center_failed(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    fake.routes[one(DC1, "FJ1")] = (503, {"code": 503, "message": "maintenance"})
    with pytest.raises(TransientError, match="maintenance"):
        provider.status("FJ1")
    # ... but a report at the other data center answers the question.
    fake.routes[one(DC2, "FJ1")] = (200, report("FJ1", "OK"))
    assert provider.status("FJ1").delivered


def test_status_auth_failure_stops_at_once(provider: RetarusProvider, fake: FakeRetarus) -> None:
    fake.routes[one(DC1, "FJ1")] = (401, {"code": 401, "message": "Authentication failed"})
    with pytest.raises(AuthError):
        provider.status("FJ1")
    assert len(fake.seen) == 1


# --- find_submission and sweep ---------------------------------------------------------


def test_find_submission_skips_excluded_jobs(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[reports(DC1)] = (
        200,
        {"reports": [report("FJOLD", "BUSY", "job-1#0"), report("FJNEW", "PENDING", "job-1#0")]},
    )
    sub = submission(tmp_path)
    when = provider._clock.now()
    assert provider.find_submission(sub, when, frozenset()) == Accepted("FJOLD", Method.FAX)
    assert provider.find_submission(sub, when, frozenset({"FJOLD"})) == Accepted(
        "FJNEW", Method.FAX
    )
    assert provider.find_submission(sub, when, frozenset({"FJOLD", "FJNEW"})) is None


def test_find_submission_needs_every_data_center(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[reports(DC1)] = (200, {"reports": []})
    fake.routes[reports(DC2)] = (502, {"code": 502, "message": "bad gateway"})
    with pytest.raises(TransientError):
        provider.find_submission(submission(tmp_path), provider._clock.now(), frozenset())


def test_find_submission_in_a_full_list_is_not_conclusive(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    full = [report(f"FJ{i}", "OK", f"other-{i}") for i in range(1000)]
    fake.routes[reports(DC1)] = (200, {"reports": full})
    with pytest.raises(TransientError, match="1000 reports"):
        provider.find_submission(submission(tmp_path), provider._clock.now(), frozenset())


def test_sweep_returns_finished_jobs_by_reference(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    fake.routes[reports(DC1)] = (
        200,
        {"reports": [report("FJ1", "OK", "job-1#0"), report("FJ2", "PENDING", "job-2#0")]},
    )
    fake.routes[reports(DC2)] = (200, {"reports": [report("FJ3", "NOFAX")]})
    swept = provider.sweep()
    assert [(key, s.status, s.delivered) for key, s in swept] == [
        ("job-1#0", "OK", True),
        ("FJ3", "NOFAX", False),
    ]


def test_sweep_skips_a_failing_data_center_but_not_all(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    fake.routes[reports(DC1)] = (503, {"code": 503, "message": "down"})
    fake.routes[reports(DC2)] = (200, {"reports": [report("FJ3", "OK", "job-3#0")]})
    assert [key for key, _ in provider.sweep()] == ["job-3#0"]
    fake.routes[reports(DC2)] = (500, {"code": 500, "message": "down too"})
    with pytest.raises(TransientError):
        provider.sweep()


# --- cleanup ---------------------------------------------------------------------------


def test_cleanup_deletes_at_each_data_center(provider: RetarusProvider, fake: FakeRetarus) -> None:
    fake.routes[one(DC1, "FJ1", "DELETE")] = (400, {"code": 400, "message": "not available"})
    fake.routes[one(DC2, "FJ1", "DELETE")] = (200, {"jobId": "FJ1", "deleted": True})
    provider.cleanup("FJ1")
    assert [(s.method, s.url.split("/")[2]) for s in fake.seen] == [
        ("DELETE", "dc1.example"),
        ("DELETE", "dc2.example"),
    ]


def test_cleanup_of_a_report_already_gone_is_fine(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    provider.cleanup("FJ1")  # 404 at both
    assert len(fake.seen) == 2


def test_cleanup_reports_a_failure_when_nothing_was_deleted(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    fake.routes[one(DC1, "FJ1", "DELETE")] = (503, {"code": 503, "message": "down"})
    with pytest.raises(TransientError):
        provider.cleanup("FJ1")
    fake.routes[one(DC2, "FJ1", "DELETE")] = (200, {"jobId": "FJ1", "deleted": True})
    provider.cleanup("FJ1")


def test_repr_and_errors_never_show_the_password(
    provider: RetarusProvider, fake: FakeRetarus, tmp_path: Path
) -> None:
    fake.routes[SUBMIT] = (400, {"code": 400, "message": f"bad login faxd:{PASSWORD}"})
    with pytest.raises(RejectedError) as caught:
        provider.submit(submission(tmp_path))
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(provider._auth)


def test_cleanup_refused_by_the_data_center_is_retried_later(
    provider: RetarusProvider, fake: FakeRetarus
) -> None:
    fake.routes[one(DC1, "FJ1", "DELETE")] = (
        200,
        {"jobId": "FJ1", "deleted": False, "reason": "INTERNAL_ERROR"},
    )
    with pytest.raises(TransientError, match="INTERNAL_ERROR"):
        provider.cleanup("FJ1")
    # NOT_FOUND in the body is the same as a 404: nothing to delete there.
    fake.routes[one(DC1, "FJ1", "DELETE")] = (
        200,
        {"jobId": "FJ1", "deleted": False, "reason": "NOT_FOUND"},
    )
    provider.cleanup("FJ1")
