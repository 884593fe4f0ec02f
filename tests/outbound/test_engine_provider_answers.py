"""The engine's reading of provider answers: a refused optional DFT check, a wrong
address, the time a provider may keep trying, and the advice in a failure report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from faxd.core.deadline import GIVE_UP_MARGIN
from faxd.errors import AuthError, EndpointError, RejectedError, TransientError
from faxd.model import Accepted, Method, RemoteStatus, Submission, TxState
from faxd.providers.base import Gate, open_gate
from faxd.store.journal import NewJob

from .engine_rig import FakeSender, Rig


class DftSender(FakeSender):
    """Generic DOCS-like: takes DFT, and its check answers what the test scripts."""

    supports_dft = True

    def __init__(self) -> None:
        super().__init__()
        self.check_answers: list[Exception | bool] = []
        self.checks: list[str] = []
        self.sent: list[Submission] = []
        self.failure: RemoteStatus | None = None

    def check_dft(self, number: str) -> bool:
        self.checks.append(number)
        answer = self.check_answers.pop(0) if self.check_answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer

    def submit(self, submission: Submission, gate: Gate = open_gate) -> Accepted:
        self.sent.append(submission)
        accepted = super().submit(submission, gate)
        return Accepted(accepted.remote_id, Method.DFT if submission.dft else Method.FAX)

    def status(self, remote_id: str) -> RemoteStatus:
        if self.failure is not None:
            return replace(self.failure, remote_id=remote_id)
        return super().status(remote_id)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    sender = DftSender()
    sender.clock = r.clock
    r.sender = sender
    r.engine._senders["fake"] = sender
    original = r.journal.create_job

    def create(new: NewJob, *args: Any, **kwargs: Any) -> Any:
        return original(replace(new, dft=True), *args, **kwargs)  # every job allows DFT

    r.journal.create_job = create  # type: ignore[method-assign,assignment]
    yield r
    r.close()


def sender_of(rig: Rig) -> DftSender:
    assert isinstance(rig.sender, DftSender)
    return rig.sender


# --- item: a refused DFT check never decides the fax ----------------------------------------


@pytest.mark.parametrize(
    "refusal",
    [
        RejectedError("check: HTTP 400 Bad Request", status_code=400),
        AuthError("check: HTTP 403 Forbidden (disabled features)", status_code=403),
        RejectedError("check: HTTP 404 Not Found", status_code=404),
        RejectedError("check: the answer was not understood"),
    ],
    ids=["400", "403", "404", "garbled"],
)
def test_a_refused_dft_check_sends_the_document_as_fax(rig: Rig, refusal: Exception) -> None:
    job = rig.job()
    sender_of(rig).check_answers = [refusal]
    rig.settle()
    tx = rig.tx(job)
    assert tx.state == TxState.SUBMITTED
    assert tx.method == Method.FAX
    assert [s.dft for s in sender_of(rig).sent] == [False]
    assert "fake" not in rig.engine.paused()
    assert not (rig.tmp / "failed").exists()


def test_a_check_refused_for_every_number_is_not_asked_again_until_reload(rig: Rig) -> None:
    first = rig.job()
    sender_of(rig).check_answers = [AuthError("disabled features", status_code=403)]
    with structlog.testing.capture_logs() as logs:
        rig.settle()
        second = rig.job()
        rig.settle()
    assert len(sender_of(rig).checks) == 1
    assert rig.tx(first).state == rig.tx(second).state == TxState.SUBMITTED
    warnings = [e for e in logs if e["event"].startswith("Direct File Transfer check refused")]
    assert len(warnings) == 1 and "reload" in warnings[0]["hint"]
    rig.engine.reconfigure(rig.engine._settings, {})
    third = rig.job()
    rig.settle()
    assert len(sender_of(rig).checks) == 2
    assert rig.tx(third).method == Method.DFT  # the check said yes this time


def test_a_check_refused_for_one_number_is_asked_again_for_the_next(rig: Rig) -> None:
    rig.job()
    sender_of(rig).check_answers = [RejectedError("bad number", status_code=400)]
    rig.settle()
    rig.job()
    rig.settle()
    assert len(sender_of(rig).checks) == 2
    assert [s.dft for s in sender_of(rig).sent] == [False, True]


def test_a_check_failing_for_now_sends_the_document_as_a_fax_and_asks_again_next_time(
    rig: Rig,
) -> None:
    # The check never decides whether a document goes: retried like an upload, a check
    # endpoint that kept failing failed the document without a single upload.
    first = rig.job()
    sender_of(rig).check_answers = [TransientError("503")]
    rig.settle()
    assert rig.tx(first).state == TxState.SUBMITTED
    assert rig.tx(first).method == Method.FAX and rig.tx(first).attempts == 1
    rig.job()
    rig.settle()
    assert len(sender_of(rig).checks) == 2  # nothing cached from the failed check
    assert [s.dft for s in sender_of(rig).sent] == [False, True]


def test_a_throttled_check_waits_with_the_provider_paused(rig: Rig) -> None:
    job = rig.job()
    sender_of(rig).check_answers = [TransientError("429", retry_after=60, throttled=True)]
    rig.settle()
    assert rig.tx(job).state == TxState.WAITING
    assert sender_of(rig).sent == []
    assert rig.engine.paused()["fake"].reason == "throttled"


# --- item: a wrong address pauses the provider --------------------------------------------


def test_a_wrong_address_pauses_the_provider_says_so_once_and_keeps_the_documents(
    rig: Rig,
) -> None:
    first, second = rig.job(), rig.job()
    wrong = EndpointError("upload: HTTP 404 Not Found", "Check base_url.", status_code=404)
    rig.sender.answers = [wrong] * 4
    with structlog.testing.capture_logs() as logs:
        rig.settle()
        rig.clock.advance(rig.tx(first).next_attempt_at - rig.clock.time())
        rig.settle()
    assert rig.engine.paused()["fake"].reason == "config"
    # Both queued: refused (waiting), or not sent at all when the pause came first.
    for job in (first, second):
        assert rig.tx(job).state in (TxState.WAITING, TxState.READY)
    assert not (rig.tmp / "failed").exists()
    errors = [e for e in logs if e["log_level"] == "error"]
    assert [e["event"] for e in errors] == [
        "the provider's address looks wrong; its queue is paused"
    ]
    assert errors[0]["hint"] == "Check base_url."
    rig.sender.answers = []
    rig.engine.reconfigure(rig.engine._settings, {})
    rig.settle()
    rig.settle()
    assert rig.tx(first).state == rig.tx(second).state == TxState.SUBMITTED
    assert rig.tx(first).attempts == 1  # refused attempts do not count


# --- item: the provider gives up before faxd does -----------------------------------------


def test_every_upload_says_until_when_it_may_be_transmitted(rig: Rig) -> None:
    rig.job(status_timeout=86400)
    rig.settle()
    (submission,) = sender_of(rig).sent
    tx = rig.tx(f"job-{rig.count:04d}")
    assert submission.valid_until is not None
    assert submission.valid_until.tzinfo is not None
    give_up = datetime.fromtimestamp((tx.submitted_at or 0) + 86400, submission.valid_until.tzinfo)
    assert submission.valid_until <= give_up
    assert (give_up - submission.valid_until).total_seconds() >= GIVE_UP_MARGIN


# --- item: a failure report says what the office can do ----------------------------------


def test_a_provider_failure_tells_the_office_what_to_do(rig: Rig) -> None:
    job = rig.job()
    sender_of(rig).failure = RemoteStatus(
        "x", "Failed", final=True, delivered=False, reason="Generic DOCS reports it failed."
    )
    rig.settle()
    rig.clock.advance(rig.tx(job).next_attempt_at - rig.clock.time())
    rig.settle()
    tx = rig.tx(job)
    assert tx.state == TxState.FAILED
    error = tx.error or ""
    assert error.startswith("Generic DOCS reports it failed.")
    assert "check the number with the recipient" in error.lower()
    assert "again later" in error
    assert f"support quoting id {tx.remote_id}" in error
    report = yaml.safe_load((rig.tmp / "failed" / "doc-1.pdf.report.yaml").read_text())
    assert report["recipients"][0]["error"] == error
