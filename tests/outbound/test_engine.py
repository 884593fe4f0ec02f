"""The engine with a scripted provider and an injected clock: retry timing, pauses,
concurrency, unknown outcomes and status timeouts — without sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from faxd.errors import AuthError, OutcomeUnknownError, RejectedError, TransientError
from faxd.model import Accepted, Method, RemoteStatus, Submission, TxState
from faxd.providers.base import Gate, open_gate
from faxd.store.journal import JournalWriteError

from .engine_rig import FakeSender, Rig


def test_retry_after_is_honoured_and_pauses_the_whole_provider(rig: Rig) -> None:
    first, second = rig.job(), rig.job()
    rig.sender.answers = [TransientError("429", retry_after=120.0, throttled=True)]
    rig.engine.reconfigure(replace(rig.engine._settings, concurrency=1), {})
    rig.settle()
    start = rig.clock.time()
    [(_, refused)] = rig.sender.submits  # either may take the one request slot first
    assert refused in (rig.tx(first).key, rig.tx(second).key)
    throttled = first if refused == rig.tx(first).key else second
    assert rig.tx(throttled).next_attempt_at >= start + 120
    assert "fake" in rig.engine.paused()
    rig.clock.advance(60)
    rig.settle()
    assert len(rig.sender.submits) == 1  # the second job waits for the pause too
    rig.clock.advance(61)
    rig.settle()
    rig.settle()
    assert len(rig.sender.submits) == 3
    assert rig.tx(first).state == TxState.SUBMITTED
    assert rig.tx(second).state == TxState.SUBMITTED


def test_backoff_grows_then_gives_up_and_files_in_failed(rig: Rig) -> None:
    job = rig.job()
    rig.sender.answers = [TransientError("503") for _ in range(10)]
    gaps = []
    for _ in range(5):
        rig.settle()
        tx = rig.tx(job)
        if tx.state == TxState.FAILED:
            break
        gaps.append(tx.next_attempt_at - rig.clock.time())
        rig.clock.advance(tx.next_attempt_at - rig.clock.time())
    assert gaps == sorted(gaps)
    assert all(5.0 <= g <= 900.0 for g in gaps)
    tx = rig.tx(job)
    assert tx.state == TxState.FAILED
    assert "gave up after 5 attempts" in (tx.error or "")
    assert (rig.tmp / "failed" / "doc-1.pdf").exists()
    report = (rig.tmp / "failed" / "doc-1.pdf.report.yaml").read_text()
    assert "gave up" in report


def test_permanent_error_fails_after_one_attempt(rig: Rig) -> None:
    job = rig.job()
    rig.sender.answers = [RejectedError("bad number", status_code=400)]
    rig.settle()
    assert rig.tx(job).state == TxState.FAILED
    assert len(rig.sender.submits) == 1
    assert (rig.tmp / "failed" / "doc-1.pdf").exists()


def test_a_request_that_cannot_be_built_fails_before_any_slot_or_commit(rig: Rig) -> None:
    job = rig.job()
    rig.sender.unbuildable = [RejectedError("doc-1.pdf: a file could not be read.")]
    rig.settle()
    tx = rig.tx(job)
    assert tx.state == TxState.FAILED
    assert tx.attempts == 0  # never SUBMITTING: nothing could have left
    assert rig.sender.submits == []
    assert "could not be read" in (tx.error or "")


def test_a_transmission_cancelled_while_its_request_is_built_is_not_sent(rig: Rig) -> None:
    job = rig.job()
    build = rig.sender.submit

    def submit(submission: Submission, gate: Gate = open_gate) -> Accepted:
        # `faxd cancel` comes while the request is built, after the row was read.
        assert rig.journal.cancel_unsent(job, rig.clock.time(), "cancelled") is None
        return build(submission, gate)

    rig.sender.submit = submit  # type: ignore[method-assign]
    rig.settle()
    assert rig.sender.submits == []  # the gate stayed shut: no request
    tx = rig.tx(job)
    assert tx.state == TxState.FAILED and tx.attempts == 0


def test_a_journal_that_cannot_take_the_submitting_commit_fails_no_document(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = rig.job()
    apply = rig.journal.apply

    def full_disk(*args: Any, **kwargs: Any) -> bool:
        if kwargs.get("first"):  # the gate's commit, right before the request would leave
            raise JournalWriteError("the journal cannot be written (database or disk is full).")
        return apply(*args, **kwargs)

    monkeypatch.setattr(rig.journal, "apply", full_disk)
    rig.settle()
    tx = rig.tx(job)
    assert tx.state == TxState.READY and tx.attempts == 0  # waits, like every other write
    assert rig.sender.submits == []
    monkeypatch.setattr(rig.journal, "apply", apply)
    rig.clock.advance(120)
    rig.settle()
    assert rig.tx(job).state == TxState.SUBMITTED


def test_auth_error_pauses_without_failing_and_reload_resumes(rig: Rig) -> None:
    job = rig.job()
    rig.sender.answers = [AuthError("401")]
    rig.settle()
    tx = rig.tx(job)
    assert tx.state == TxState.WAITING
    assert rig.engine.paused()["fake"].reason == "auth"
    assert not (rig.tmp / "failed").exists()
    rig.engine.reconfigure(rig.engine._settings, {})
    rig.settle()
    assert rig.tx(job).state == TxState.SUBMITTED
    assert rig.tx(job).attempts == 1  # the refused attempt did not count


def test_uploads_in_flight_never_exceed_concurrency(rig: Rig) -> None:
    for _ in range(12):
        rig.job()
    rig.sender.gate = threading.Event()
    rig.engine.dispatch()
    time.sleep(0.1)
    rig.engine.dispatch()
    assert rig.sender.active <= 2
    rig.sender.gate.set()
    for _ in range(10):
        rig.settle()
    assert len(rig.sender.submits) == 12
    assert rig.sender.max_active == 2


def test_a_429_storm_does_not_hammer_the_provider(rig: Rig) -> None:
    for _ in range(50):
        rig.job()
    rig.sender.answers = [
        TransientError("429", retry_after=30.0, throttled=True) for _ in range(50)
    ]
    for _ in range(5):
        rig.settle()
    assert len(rig.sender.submits) <= 2  # one round of `concurrency`, then the global pause


def test_unknown_outcome_is_looked_up_not_uploaded_again(rig: Rig) -> None:
    job = rig.job()
    rig.sender.answers = [OutcomeUnknownError("connection closed")]
    rig.settle()
    assert rig.tx(job).state == TxState.OUTCOME_UNKNOWN
    rig.sender.found = Accepted("found-it", Method.FAX)
    rig.clock.advance(16)
    rig.settle()
    tx = rig.tx(job)
    assert tx.state == TxState.SUBMITTED
    assert tx.remote_id == "found-it"
    assert len(rig.sender.submits) == 1


def test_unknown_outcome_not_found_three_times_is_sent_again(rig: Rig) -> None:
    job = rig.job()
    rig.sender.answers = [OutcomeUnknownError("connection closed")]
    rig.settle()
    for _ in range(3):
        rig.clock.advance(rig.tx(job).next_attempt_at - rig.clock.time())
        rig.settle()
    assert rig.sender.lookups == 3
    assert rig.tx(job).state == TxState.WAITING
    rig.clock.advance(rig.tx(job).next_attempt_at - rig.clock.time())
    rig.settle()
    assert len(rig.sender.submits) == 2
    assert rig.tx(job).state == TxState.SUBMITTED


def test_a_transmission_never_final_fails_after_status_timeout(rig: Rig) -> None:
    job = rig.job(status_timeout=600)
    rig.sender.final = False
    rig.settle()
    while rig.tx(job).state == TxState.SUBMITTED:
        rig.clock.advance(rig.tx(job).next_attempt_at - rig.clock.time())
        rig.settle()
    tx = rig.tx(job)
    assert tx.state == TxState.FAILED
    assert "status_timeout" in (tx.error or "")
    assert "10 min after it was accepted" in (tx.error or "")  # not "0.166667 h"
    assert rig.clock.time() - (tx.submitted_at or 0) > 600


@pytest.mark.parametrize(
    ("failure", "within"),
    [
        (TransientError("503"), 600 + 60),
        # A Retry-After far past the status_timeout does not put the timeout off.
        (TransientError("503", retry_after=6 * 3600), 600 + 60),
        # A 429 pauses the whole provider, queries too: the timeout is held when it ends.
        (TransientError("429", retry_after=3600, throttled=True), 3600 + 60),
    ],
)
def test_a_transmission_whose_status_cannot_be_had_fails_at_status_timeout(
    tmp_path: Path, failure: TransientError, within: float
) -> None:
    # Before, only a successful "still Sending" answer was held against the timeout: a
    # status query failing every time kept the job in flight for ever.
    class Unanswered(FakeSender):
        def status(self, remote_id: str) -> RemoteStatus:
            raise failure

    sender = Unanswered()
    with rig_sending_through(tmp_path, sender) as rig:
        job = rig.job(status_timeout=600)
        rig.settle()
        pauses: set[str] = set()
        for _ in range(200):
            if rig.tx(job).state != TxState.SUBMITTED:
                break
            pauses.update(p.reason for p in rig.engine.paused().values())
            until = [p.until for p in rig.engine.paused().values()]
            wake = max([rig.tx(job).next_attempt_at, *until])
            rig.clock.advance(wake - rig.clock.time())
            rig.settle()
        assert pauses == ({"throttled"} if failure.throttled else set())
        tx = rig.tx(job)
        assert tx.state == TxState.FAILED
        assert "its status could not be had 10 min after it was accepted" in (tx.error or "")
        assert 600 < rig.clock.time() - (tx.submitted_at or 0) < within


def test_delivered_job_is_filed_in_sent_with_a_report(rig: Rig) -> None:
    job = rig.job()
    rig.settle()
    rig.clock.advance(2)
    rig.settle()
    assert rig.tx(job).state == TxState.DELIVERED
    report = (rig.tmp / "sent" / "doc-1.pdf.report.yaml").read_text()
    assert "result: delivered" in report
    assert "remote-job-0001-0" in report
    assert not (rig.spool / "doc-1.pdf").exists()


class SweepingSender(FakeSender):
    def sweep(self) -> list[tuple[str, RemoteStatus]]:
        return list(self.swept)


@contextmanager
def rig_sending_through(tmp_path: Path, sender: FakeSender) -> Iterator[Rig]:
    """A rig whose provider is `sender` (a FakeSender with other answers)."""
    rig = Rig(tmp_path)
    sender.clock = rig.clock
    rig.engine._senders["fake"] = sender
    rig.sender = sender
    try:
        yield rig
    finally:
        rig.engine.shutdown(5)
        rig.journal.close()


def test_the_sweep_records_results_the_polling_missed_and_forgets_old_reports(
    tmp_path: Path,
) -> None:
    sender = SweepingSender()
    with rig_sending_through(tmp_path, sender) as rig:
        job = rig.job()
        sender.final = False
        rig.settle()
        assert rig.tx(job).state == TxState.SUBMITTED
        failed = RemoteStatus(
            "remote-job-0001-0", "BUSY", final=True, delivered=False, reason="busy"
        )
        sender.swept = [(f"{job}-0", failed), ("someone-elses-9", failed)]
        rig.engine.queries.sweep("fake", sender, set())
        tx = rig.tx(job)
        assert tx.state == TxState.FAILED
        assert tx.status == "BUSY" and "'BUSY'" in (tx.error or "")
        assert "send it again later" in (tx.error or "")
        assert (tmp_path / "failed" / "doc-1.pdf").exists()
        assert sender.cleaned == ["remote-job-0001-0"]
        # Already filed: only the leftover report goes.
        rig.engine.queries.sweep("fake", sender, set())
        assert sender.cleaned == ["remote-job-0001-0", "remote-job-0001-0"]


def test_a_status_about_another_fax_is_never_recorded_for_this_one(tmp_path: Path) -> None:
    class MixedUp(FakeSender):
        def status(self, remote_id: str) -> RemoteStatus:
            return RemoteStatus("someone-elses-fax", "Received", final=True, delivered=True)

    sender = MixedUp()
    with rig_sending_through(tmp_path, sender) as rig:
        job = rig.job()
        for _ in range(3):
            rig.settle()
            rig.clock.advance(rig.tx(job).next_attempt_at - rig.clock.time())
        assert rig.tx(job).state == TxState.SUBMITTED
        assert not (tmp_path / "sent" / "doc-1.pdf").exists()


def test_the_sweep_ignores_a_report_of_another_job_that_carries_our_reference(
    tmp_path: Path,
) -> None:
    sender = SweepingSender()
    with rig_sending_through(tmp_path, sender) as rig:
        job = rig.job()
        sender.final = False
        rig.settle()
        assert rig.tx(job).remote_id == "remote-job-0001-0"
        delivered = RemoteStatus("another-job", "OK", final=True, delivered=True)
        sender.swept = [(f"{job}-0", delivered)]
        rig.engine.queries.sweep("fake", sender, set())
        assert rig.tx(job).state == TxState.SUBMITTED
        ours = RemoteStatus("REMOTE-JOB-0001-0", "OK", final=True, delivered=True)
        sender.swept = [(f"{job}-0", ours)]  # the same id, other letter case: ours
        rig.engine.queries.sweep("fake", sender, set())
        assert rig.tx(job).state == TxState.DELIVERED


def test_a_long_retrying_transmission_is_warned_about_once(rig: Rig) -> None:
    import structlog

    job = rig.job(max_attempts=100, give_up_after=10 * 86400)
    rig.sender.answers = [TransientError("503") for _ in range(60)]
    with structlog.testing.capture_logs() as logs:
        for _ in range(40):
            rig.settle()
            tx = rig.tx(job)
            rig.clock.advance(max(0.0, tx.next_attempt_at - rig.clock.time()))
    warnings = [e for e in logs if e["event"] == "still not sent after hours of retrying"]
    assert len(warnings) == 1
    assert warnings[0]["hours"] >= 4
    # Once the job is over, what it was warned about is forgotten: a daemon runs for years.
    rig.sender.answers = []
    for _ in range(10):
        if rig.tx(job).state == TxState.DELIVERED:
            break
        rig.settle()
        rig.clock.advance(max(1.0, rig.tx(job).next_attempt_at - rig.clock.time()))
    assert rig.tx(job).state == TxState.DELIVERED
    rig.engine.finish_if_done(job)
    assert rig.engine.outcomes.delay_warned == set()
