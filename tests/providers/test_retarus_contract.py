"""RetarusProvider against the sandbox emulator over real HTTP on loopback.

Time in the emulator is a FakeClock: statuses move when the test advances it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from faxd.clock import FakeClock
from faxd.errors import AuthError, OutcomeUnknownError, RejectedError, TransientError
from faxd.model import Method, OutgoingFile, Submission
from faxd.providers.retarus import RetarusProvider
from faxd.providers.retarus_type import RETARUS_LIMITS
from faxd.sandbox.server import SandboxServer
from faxd.settings import RetarusOptions, RetarusProviderSettings, Secret

DELAY = 30.0  # the emulator's status_delay: PENDING until then
SANDBOX_PASSWORD = "sandbox-password"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[SandboxServer]:
    with SandboxServer({"status_delay": DELAY}, clock=clock) as server:
        yield server


def make_settings(server: SandboxServer, password: str | None = None) -> RetarusProviderSettings:
    return RetarusProviderSettings(
        name="retarus",
        customer_number="999901",
        username="faxd",
        password=Secret(password or SANDBOX_PASSWORD),
        submit_url=server.retarus_submit_url,
        datacenter_urls=server.retarus_datacenter_urls,
        connect_timeout=5.0,
        read_timeout=10.0,
    )


@pytest.fixture
def provider(sandbox: SandboxServer, clock: FakeClock) -> Iterator[RetarusProvider]:
    sender = RetarusProvider(make_settings(sandbox), clock=clock)
    yield sender
    sender.close()


def pdf(path: Path, size: int = 2000) -> Path:
    path.write_bytes(b"%PDF-1.4\n" + b"0" * size + b"\n%%EOF\n")
    return path


def submission(
    tmp_path: Path, recipient: str = "+4989123456701", key: str = "job-1#0", **extra: Any
) -> Submission:
    path = tmp_path / "Rechnung 4711.pdf"
    if not path.exists():
        pdf(path)
    values: dict[str, Any] = {
        "key": key,
        "job_id": key.split("#")[0],
        "sender": "+4612345678",
        "recipient": recipient,
        "files": (OutgoingFile(path, path.name, "application/pdf", path.stat().st_size),),
        "dft": False,
    }
    values.update(extra)
    return Submission(**values)


def retarus_stats(sandbox: SandboxServer) -> dict[str, Any]:
    stats: dict[str, Any] = sandbox.stats()["retarus"]
    return stats


def test_submit_pending_then_delivered(
    provider: RetarusProvider, sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    sub = submission(tmp_path, reference="Invoice 4711")
    accepted = provider.submit(sub)
    assert accepted.method is Method.FAX
    first = provider.status(accepted.remote_id)
    assert (first.status, first.final) == ("PENDING", False)
    clock.advance(DELAY)
    done = provider.status(accepted.remote_id)
    assert (done.status, done.final, done.delivered) == ("OK", True, True)
    stats = retarus_stats(sandbox)
    assert stats["accepted"] == 1
    assert stats["jobs"][accepted.remote_id]["customerDefinedId"] == "job-1#0"
    digest = hashlib.sha256(sub.files[0].path.read_bytes()).hexdigest()
    assert stats["uploads_by_sha256"] == {digest: 1}
    # Reports are only ever asked of the data centers.
    assert stats["ha_report_queries"] == 0


def test_a_server_reading_the_swagger_files_required_fields_takes_the_job(
    clock: FakeClock, tmp_path: Path
) -> None:
    # retarus-cloudFaxRestAPI.swagger2.json: "required" : [ "recipients",
    # "renderingOptions", "statusReportOptions" ], and StatusReportOptions "required" :
    # [ "reportPurgeTs" ]; the reference pages and the SDKs send recipients alone.
    scenario = {"status_delay": DELAY, "retarus_required": "swagger"}
    with SandboxServer(scenario, clock=clock) as server:
        sender = RetarusProvider(make_settings(server), clock=clock)
        try:
            first = sender.submit(submission(tmp_path))
            second = sender.submit(submission(tmp_path, key="job-2#0"))
            clock.advance(DELAY)
            assert sender.status(first.remote_id).delivered
        finally:
            sender.close()
        stats = retarus_stats(server)
    assert set(stats["jobs"]) == {first.remote_id, second.remote_id}
    # Refused once for lacking the fields; the next job carries them from the start.
    assert stats["requests"]["submit"] == 3


@pytest.mark.parametrize(
    ("number", "status"), [("+4989123456798", "BUSY"), ("+4989123456799", "NOFAX")]
)
def test_failures_are_final_with_reason(
    provider: RetarusProvider, clock: FakeClock, tmp_path: Path, number: str, status: str
) -> None:
    accepted = provider.submit(submission(tmp_path, recipient=number))
    clock.advance(DELAY)
    result = provider.status(accepted.remote_id)
    assert (result.status, result.final, result.delivered) == (status, True, False)
    assert result.reason


def test_jobs_in_both_data_centers_are_found(
    provider: RetarusProvider, sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    # The emulator places jobs in dc1 and dc2 alternately.
    ids = [provider.submit(submission(tmp_path, key=f"job-{i}#0")).remote_id for i in range(2)]
    places = {retarus_stats(sandbox)["jobs"][i]["datacenter"] for i in ids}
    assert places == {"dc1", "dc2"}
    clock.advance(DELAY)
    assert all(provider.status(i).delivered for i in ids)
    assert retarus_stats(sandbox)["ha_report_queries"] == 0


def test_cleanup_deletes_the_report_where_it_lives(
    provider: RetarusProvider, sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    job_id = provider.submit(submission(tmp_path)).remote_id
    clock.advance(DELAY)
    provider.cleanup(job_id)
    stats = retarus_stats(sandbox)
    assert stats["deleted_reports"] == [job_id]
    assert job_id not in stats["jobs"]
    assert stats["ha_report_queries"] == 0
    # Gone everywhere: not final any more as far as Retarus can tell, and a second
    # cleanup is harmless.
    assert not provider.status(job_id).final
    provider.cleanup(job_id)


def test_duplicate_job_is_reconciled_not_failed(
    provider: RetarusProvider, sandbox: SandboxServer, tmp_path: Path
) -> None:
    sub = submission(tmp_path)
    first = provider.submit(sub)
    again = provider.submit(sub)
    assert again == first
    stats = retarus_stats(sandbox)
    assert stats["submit_requests"] == 2
    assert stats["accepted"] == 1


def test_lost_answer_then_found_by_reference(
    provider: RetarusProvider, sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    sandbox.add_fault({"api": "retarus", "endpoint": "submit", "action": "drop_after"})
    sub = submission(tmp_path)
    started = clock.now()
    with pytest.raises(OutcomeUnknownError):
        provider.submit(sub)
    found = provider.find_submission(sub, started, frozenset())
    assert found is not None
    assert retarus_stats(sandbox)["jobs"][found.remote_id]["customerDefinedId"] == sub.key
    assert retarus_stats(sandbox)["accepted"] == 1
    assert provider.find_submission(sub, started, frozenset({found.remote_id})) is None


def test_dropped_before_processing_is_unknown_then_not_found(
    provider: RetarusProvider, sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    sandbox.add_fault({"api": "retarus", "endpoint": "submit", "action": "drop_before"})
    sub = submission(tmp_path)
    with pytest.raises(OutcomeUnknownError):
        provider.submit(sub)
    assert provider.find_submission(sub, clock.now(), frozenset()) is None
    assert retarus_stats(sandbox)["accepted"] == 0


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, OutcomeUnknownError), (520, OutcomeUnknownError), (400, RejectedError)],
)
def test_injected_submit_statuses(
    provider: RetarusProvider,
    sandbox: SandboxServer,
    tmp_path: Path,
    status: int,
    error: type[Exception],
) -> None:
    sandbox.add_fault(
        {"api": "retarus", "endpoint": "submit", "action": "status", "status": status}
    )
    with pytest.raises(error):
        provider.submit(submission(tmp_path))
    assert retarus_stats(sandbox)["accepted"] == 0


def test_throttling_carries_retry_after(
    provider: RetarusProvider, sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.add_fault(
        {
            "api": "retarus",
            "endpoint": "submit",
            "action": "status",
            "status": 429,
            "retry_after": 120,
        }
    )
    with pytest.raises(TransientError) as caught:
        provider.submit(submission(tmp_path))
    assert caught.value.throttled
    assert caught.value.retry_after == 120


def test_a_failing_report_endpoint_is_transient(
    provider: RetarusProvider, sandbox: SandboxServer, tmp_path: Path
) -> None:
    job_id = provider.submit(submission(tmp_path)).remote_id
    sandbox.add_fault(
        {"api": "retarus", "endpoint": "report", "action": "status", "status": 503, "times": 2}
    )
    with pytest.raises(TransientError):
        provider.status(job_id)


def test_sweep_lists_finished_jobs_by_key(
    provider: RetarusProvider, clock: FakeClock, tmp_path: Path
) -> None:
    provider.submit(submission(tmp_path, key="job-1#0"))
    provider.submit(submission(tmp_path, key="job-2#0", recipient="+4989123456798"))
    assert provider.sweep() == []
    clock.advance(DELAY)
    swept = {key: (s.status, s.delivered) for key, s in provider.sweep()}
    assert swept == {"job-1#0": ("OK", True), "job-2#0": ("BUSY", False)}


def test_wrong_password_is_an_auth_error_without_the_password(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sender = RetarusProvider(make_settings(sandbox, password="wrong-pass-4711"))
    try:
        with pytest.raises(AuthError) as caught:
            sender.submit(submission(tmp_path))
        assert "wrong-pass-4711" not in str(caught.value)
        with pytest.raises(AuthError):
            sender.status("FJ0000000000000000000")
    finally:
        sender.close()


def test_every_option_is_accepted_by_the_emulator(
    provider: RetarusProvider, sandbox: SandboxServer, tmp_path: Path
) -> None:
    options = RetarusOptions(
        coverpage_template="coverpage-default.ftl.html",
        recipient_properties={"ToName": "Max Mustermann"},
        resolution="LOW",
        paper_format="LETTER",
        express=True,
        blacklist=True,
        header="%tz=CET Fax %C",
    )
    text = tmp_path / "Notiz für Müller.txt"
    text.write_bytes("Grüße, 5 €".encode("cp1252"))
    base = submission(tmp_path, reference="Invoice 4711", retarus=options)
    files = (*base.files, OutgoingFile(text, text.name, "text/plain", text.stat().st_size))
    sub = Submission(**{**base.__dict__, "files": files})
    accepted = provider.submit(sub)
    assert accepted.remote_id in retarus_stats(sandbox)["jobs"]


def test_large_document_streams_through(
    provider: RetarusProvider, sandbox: SandboxServer, tmp_path: Path
) -> None:
    big = pdf(tmp_path / "big.pdf", size=5 * 1024 * 1024 + 1)
    sub = submission(
        tmp_path, files=(OutgoingFile(big, big.name, "application/pdf", big.stat().st_size),)
    )
    provider.submit(sub)
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    assert retarus_stats(sandbox)["uploads_by_sha256"] == {digest: 1}


def test_prepared_images_are_accepted(
    sandbox: SandboxServer, clock: FakeClock, tmp_path: Path
) -> None:
    scan = tmp_path / "Scan 2026-11-22.png"
    Image.new("L", (200, 100), 200).save(scan, "PNG")
    sender = RetarusProvider(make_settings(sandbox), clock=clock, limits=RETARUS_LIMITS)
    try:
        [prepared] = sender.prepare(
            [OutgoingFile(scan, scan.name, "image/png", scan.stat().st_size)], tmp_path / "work"
        )
        assert prepared.name == "Scan_2026-11-22.pdf"
        accepted = sender.submit(submission(tmp_path, files=(prepared,)))
        clock.advance(DELAY)
        assert sender.status(accepted.remote_id).delivered
    finally:
        sender.close()
