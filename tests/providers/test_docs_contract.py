"""Provider contract tests against the sandbox emulator over real HTTP.

The first section runs for every provider in `contract_rigs.RIG_BUILDERS` (the `rig`
fixture); the second covers what only Generic DOCS offers: DFT, the inbox, deletion.

A note on dropped connections: the emulator reads a request in full before it drops the
connection, so from the client's side `drop_before` and `drop_after` look the same (the
request left, no answer came). An upload then has an unknown outcome either way; the
lookup (`find_submission`) tells them apart."""

from __future__ import annotations

import hashlib
import io
import socket
import traceback
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from faxd.clock import FakeClock
from faxd.errors import AuthError, OutcomeUnknownError, RejectedError, TransientError
from faxd.model import Method, OutgoingFile, Submission
from faxd.providers import docs_wire as wire
from faxd.providers import http
from faxd.providers.docs import DocsProvider
from faxd.sandbox.server import SandboxServer

from .contract_rigs import STATUS_DELAY, Rig, docs_rig, docs_settings

# --- every provider --------------------------------------------------------------------------


def settle(rig: Rig) -> None:
    rig.clock.advance(STATUS_DELAY + 1)


def test_submit_is_accepted_once_and_tracked_to_delivered(rig: Rig) -> None:
    accepted = rig.provider.submit(rig.submission(rig.numbers.delivered))
    assert accepted.remote_id
    assert rig.accepted() == 1
    first = rig.provider.status(accepted.remote_id)
    assert first.remote_id == accepted.remote_id
    assert not first.final
    settle(rig)
    final = rig.provider.status(accepted.remote_id)
    assert (final.final, final.delivered) == (True, True)


def test_failing_number_ends_failed_with_a_reason(rig: Rig) -> None:
    accepted = rig.provider.submit(rig.submission(rig.numbers.failing))
    settle(rig)
    final = rig.provider.status(accepted.remote_id)
    assert (final.final, final.delivered) == (True, False)
    assert final.reason


def test_wrong_key_is_an_auth_error_that_never_shows_the_key(rig: Rig) -> None:
    wrong = rig.with_wrong_key()
    try:
        with pytest.raises(AuthError) as info:
            wrong.submit(rig.submission(rig.numbers.delivered))
        with pytest.raises(AuthError):
            wrong.status("anything")
    finally:
        wrong.close()
    rendered = "".join(traceback.format_exception(info.value))
    assert "canary-wrong-key-5d1f" not in rendered
    assert info.value.__context__ is None
    assert rig.accepted() == 0


def test_validation_failure_is_rejected_with_the_providers_words(rig: Rig) -> None:
    with pytest.raises(RejectedError) as info:
        rig.provider.submit(rig.submission(rig.numbers.invalid))
    assert info.value.status_code == 400
    assert rig.numbers.invalid in str(info.value)  # the emulator names the bad number
    assert rig.accepted() == 0


def test_429_carries_retry_after_and_throttles(rig: Rig) -> None:
    rig.sandbox.add_fault(
        {"api": rig.api, "endpoint": rig.send_endpoint, "action": "status", "status": 429,
         "retry_after": 17}
    )  # fmt: skip
    with pytest.raises(TransientError) as info:
        rig.provider.submit(rig.submission(rig.numbers.delivered))
    assert info.value.throttled
    assert info.value.retry_after == 17
    assert rig.accepted() == 0
    # the fault was spent: the next attempt goes through
    assert rig.provider.submit(rig.submission(rig.numbers.delivered)).remote_id


def test_503_to_an_upload_is_unknown_and_keeps_its_retry_after(rig: Rig) -> None:
    # Nothing in a 503 says whether the service or the load balancer in front of it
    # answered, so not even one that was not processed is sent again without asking.
    started = rig.clock.now()
    rig.sandbox.add_fault(
        {"api": rig.api, "endpoint": rig.send_endpoint, "action": "status", "status": 503,
         "retry_after": 17}
    )  # fmt: skip
    submission = rig.submission(rig.numbers.delivered)
    with pytest.raises(OutcomeUnknownError, match="503") as info:
        rig.provider.submit(submission)
    assert info.value.retry_after == 17
    assert info.value.status_code == 503
    assert rig.accepted() == 0
    assert rig.provider.find_submission(submission, started, frozenset()) is None


def test_503_to_a_status_query_is_asked_again(rig: Rig) -> None:
    accepted = rig.provider.submit(rig.submission(rig.numbers.delivered))
    rig.sandbox.add_fault(
        {"api": rig.api, "endpoint": rig.status_endpoint, "action": "status", "status": 503,
         "retry_after": 9}
    )  # fmt: skip
    with pytest.raises(TransientError) as info:
        rig.provider.status(accepted.remote_id)
    assert not isinstance(info.value, OutcomeUnknownError)
    assert (info.value.status_code, info.value.retry_after) == (503, 9)
    assert rig.provider.status(accepted.remote_id).remote_id == accepted.remote_id


def test_unreachable_provider_is_transient(rig: Rig) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unreachable = rig.unreachable(port)
    try:
        with pytest.raises(TransientError, match="refused"):
            unreachable.submit(rig.submission(rig.numbers.delivered))
    finally:
        unreachable.close()


def test_drop_before_processing_is_unknown_and_the_lookup_finds_nothing(rig: Rig) -> None:
    started = rig.clock.now()
    rig.sandbox.add_fault({"api": rig.api, "endpoint": rig.send_endpoint, "action": "drop_before"})
    submission = rig.submission(rig.numbers.delivered)
    with pytest.raises(OutcomeUnknownError):
        rig.provider.submit(submission)
    assert rig.accepted() == 0
    assert rig.provider.find_submission(submission, started, frozenset()) is None


def test_drop_after_processing_is_unknown_and_the_lookup_finds_it(rig: Rig) -> None:
    started = rig.clock.now()
    rig.sandbox.add_fault({"api": rig.api, "endpoint": rig.send_endpoint, "action": "drop_after"})
    submission = rig.submission(rig.numbers.delivered)
    with pytest.raises(OutcomeUnknownError):
        rig.provider.submit(submission)
    assert rig.accepted() == 1
    rig.clock.advance(5)
    found = rig.provider.find_submission(submission, started, frozenset())
    assert found is not None
    assert rig.provider.status(found.remote_id).remote_id == found.remote_id
    # an id faxd already holds is never claimed twice
    assert rig.provider.find_submission(submission, started, frozenset({found.remote_id})) is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_after_processing_is_unknown_and_the_lookup_finds_it(
    rig: Rig, status: int
) -> None:
    # A gateway that timed out, or a load balancer whose backend dropped out (503),
    # while the service accepted the upload: sending it again at once would fax it twice.
    started = rig.clock.now()
    rig.sandbox.add_fault(
        {"api": rig.api, "endpoint": rig.send_endpoint, "action": "status_after", "status": status}
    )
    submission = rig.submission(rig.numbers.delivered)
    with pytest.raises(OutcomeUnknownError, match=str(status)):
        rig.provider.submit(submission)
    assert rig.accepted() == 1
    rig.clock.advance(5)
    assert rig.provider.find_submission(submission, started, frozenset()) is not None


def test_lookup_does_not_claim_another_transmission(rig: Rig) -> None:
    started = rig.clock.now()
    rig.provider.submit(rig.submission(rig.numbers.failing, key="job9/0"))
    other = rig.submission(rig.numbers.delivered, key="job1/0")
    assert rig.provider.find_submission(other, started, frozenset()) is None


def test_status_query_failures_are_transient(rig: Rig) -> None:
    accepted = rig.provider.submit(rig.submission(rig.numbers.delivered))
    for action in ("drop_before", "drop_after"):
        rig.sandbox.add_fault({"api": rig.api, "endpoint": rig.status_endpoint, "action": action})
        with pytest.raises(TransientError):
            rig.provider.status(accepted.remote_id)
    rig.sandbox.add_fault(
        {"api": rig.api, "endpoint": rig.status_endpoint, "action": "slow", "delay": 5}
    )
    with pytest.raises(TransientError):
        rig.provider.status(accepted.remote_id)
    assert rig.provider.status(accepted.remote_id).remote_id == accepted.remote_id


# --- Generic DOCS only -----------------------------------------------------------------------


@pytest.fixture
def docs(tmp_path: Path) -> Iterator[Rig]:
    clock = FakeClock()
    with SandboxServer({"status_delay": STATUS_DELAY}, clock=clock) as sandbox:
        built = docs_rig(sandbox, clock, tmp_path)
        try:
            yield built
        finally:
            built.close()


def test_check_dft(docs: Rig) -> None:
    assert docs.numbers.dft is not None
    assert docs.provider.check_dft(docs.numbers.dft) is True
    assert docs.provider.check_dft(docs.numbers.delivered) is False


def test_dft_submission_to_a_capable_number_goes_as_dft(docs: Rig) -> None:
    assert docs.numbers.dft is not None
    accepted = docs.provider.submit(docs.submission(docs.numbers.dft, dft=True))
    assert accepted.method == Method.DFT
    settle(docs)
    status = docs.provider.status(accepted.remote_id)
    assert status.method == Method.DFT
    assert status.delivered


def test_dft_allowed_to_an_incapable_number_goes_as_fax(docs: Rig) -> None:
    accepted = docs.provider.submit(docs.submission(docs.numbers.delivered, dft=True))
    assert accepted.method == Method.FAX
    assert docs.provider.submit(docs.submission(docs.numbers.dft or "", dft=False)).method == (
        Method.FAX
    )


def test_upload_arrives_byte_for_byte_with_name_and_several_files(
    docs: Rig, tmp_path: Path
) -> None:
    text = tmp_path / "terms.txt"
    text.write_text("Terms and conditions\n" * 5000, encoding="utf-8")
    extra = OutgoingFile(text, "terms.txt", "text/plain", text.stat().st_size)
    submission = Submission(
        key="job2/0",
        job_id="job2",
        sender=docs.numbers.sender,
        recipient=docs.numbers.delivered,
        files=(docs.pdf, extra),
        dft=False,
    )
    accepted = docs.provider.submit(submission)
    stats = docs.sandbox.stats()["docs"]
    transmission = stats["transmissions"][accepted.remote_id]
    token = wire.upload_token("job2/0")
    assert transmission["files"] == [f"invoice-4711_fx{token}.pdf", f"terms_fx{token}.txt"]
    assert transmission["sender"] == docs.numbers.sender
    expected = [hashlib.sha256(f.path.read_bytes()).hexdigest() for f in (docs.pdf, extra)]
    assert transmission["sha256"] == expected


def test_an_upper_case_extension_is_uploaded_as_the_api_table_spells_it(
    docs: Rig, tmp_path: Path
) -> None:
    scan = tmp_path / "SCAN.PDF"
    scan.write_bytes(docs.pdf.path.read_bytes())
    submission = Submission(
        key="job3/0",
        job_id="job3",
        sender=docs.numbers.sender,
        recipient=docs.numbers.delivered,
        files=(OutgoingFile(scan, "SCAN.PDF", "application/pdf", scan.stat().st_size),),
        dft=False,
    )
    accepted = docs.provider.submit(submission)
    transmission = docs.sandbox.stats()["docs"]["transmissions"][accepted.remote_id]
    assert transmission["files"] == [f"SCAN_fx{wire.upload_token('job3/0')}.pdf"]


def received_doc(name: str, content: bytes, fax_time: str) -> dict[str, object]:
    return {
        "faxTime": fax_time,
        "sender": "+46927654321",
        "recipient": "+4612345678",
        "files": [{"fileName": name, "content": content}],
    }


def test_list_received_and_fetch(docs: Rig) -> None:
    assert docs.inbox is not None
    now = docs.clock.now()
    payload = b"%PDF-1.4\n" + bytes(range(256)) * 400
    fax_id = docs.sandbox.add_received(
        received_doc("räkning 7.pdf", payload, (now - timedelta(minutes=10)).isoformat())
    )
    listed = docs.inbox.list_received(now - timedelta(hours=1), now)
    (document,) = [d for d in listed if d.remote_id == fax_id]
    assert document.sender == "+46927654321"
    assert document.recipient == "+4612345678"
    assert abs(document.time - (now - timedelta(minutes=10))) < timedelta(seconds=1)
    assert document.time.tzinfo is not None
    (file,) = document.files
    assert file.name == "räkning 7.pdf"
    sink = io.BytesIO()
    assert docs.inbox.fetch(file.file_id, sink) == "räkning 7.pdf"
    assert sink.getvalue() == payload
    # outside the window: not listed
    assert all(
        d.remote_id != fax_id
        for d in docs.inbox.list_received(now - timedelta(days=2), now - timedelta(days=1))
    )


def test_fetch_hands_back_a_hostile_name_as_given(docs: Rig) -> None:
    assert docs.inbox is not None
    now = docs.clock.now()
    fax_id = docs.sandbox.add_received(received_doc("../../etc/cron.d/x", b"data", "now"))
    (document,) = [
        d
        for d in docs.inbox.list_received(now - timedelta(minutes=1), now)
        if d.remote_id == fax_id
    ]
    # the inbox, not the provider, makes names safe; it must see what the remote party sent
    assert docs.inbox.fetch(document.files[0].file_id, io.BytesIO()) == "../../etc/cron.d/x"


def test_delete_twice_and_unknown_are_fine_and_content_is_gone(docs: Rig) -> None:
    assert docs.inbox is not None
    now = docs.clock.now()
    fax_id = docs.sandbox.add_received(received_doc("a.pdf", b"%PDF-1.4 x", "now"))
    (document,) = [
        d
        for d in docs.inbox.list_received(now - timedelta(minutes=1), now)
        if d.remote_id == fax_id
    ]
    docs.inbox.delete(fax_id)
    docs.inbox.delete(fax_id)
    docs.inbox.delete("00000000-0000-4000-8000-000000000000")
    assert docs.sandbox.stats()["docs"]["deleted"] == [fax_id]
    with pytest.raises(RejectedError) as info:
        docs.inbox.fetch(document.files[0].file_id, io.BytesIO())
    assert info.value.status_code == 404


def test_lookup_splits_a_window_holding_more_than_a_page(tmp_path: Path) -> None:
    clock = FakeClock()
    scenario = {
        "status_delay": STATUS_DELAY,
        # 250 documents in the 10 minutes around the upload: a single listing would
        # return only the first 100 and miss ours.
        "generate_received": {"count": 250, "start": "-5m", "span_seconds": 600, "seed": 7},
    }
    with SandboxServer(scenario, clock=clock) as sandbox:
        rig = docs_rig(sandbox, clock, tmp_path)
        try:
            started = clock.now()
            clock.advance(200)
            sandbox.add_fault({"api": "docs", "endpoint": "send", "action": "drop_after"})
            submission = rig.submission(rig.numbers.delivered)
            with pytest.raises(OutcomeUnknownError):
                rig.provider.submit(submission)
            found = rig.provider.find_submission(submission, started, frozenset())
            assert found is not None
            assert found.remote_id in sandbox.stats()["docs"]["transmissions"]
            assert sandbox.stats()["docs"]["requests"]["retrieve"] > 1
        finally:
            rig.close()


def test_every_request_carries_the_bearer_key_also_with_an_injected_session(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    with (
        SandboxServer({"status_delay": STATUS_DELAY}, clock=clock) as sandbox,
    ):
        session = http.make_session(None, "faxd-test")  # no credential of its own
        provider = DocsProvider(docs_settings(sandbox.docs_base_url), session=session, clock=clock)
        assert provider.check_dft("+46812345611") is True
        provider.close()  # an injected session belongs to the caller
        assert provider.check_dft("+46812345611") is True
        session.close()
