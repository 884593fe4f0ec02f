"""Outcome lookups in the engine: an id is credited once, and an upload the provider cannot
tell apart from others is neither guessed nor sent again."""

from __future__ import annotations

from faxd.errors import AmbiguousOutcomeError, OutcomeUnknownError
from faxd.model import Accepted, Method, TxState

from .engine_rig import Rig


def lose_answers(rig: Rig, count: int) -> list[str]:
    jobs = [rig.job() for _ in range(count)]
    rig.sender.answers = [OutcomeUnknownError("connection closed") for _ in jobs]
    rig.settle()
    assert all(rig.tx(j).state == TxState.OUTCOME_UNKNOWN for j in jobs)
    return jobs


def due(rig: Rig) -> None:
    rig.clock.advance(
        max(0.0, min(rig.tx(j).next_attempt_at for j in rig_jobs(rig)) - rig.clock.time())
    )
    rig.settle()


def rig_jobs(rig: Rig) -> list[str]:
    return [f"job-{n:04d}" for n in range(1, rig.count + 1)]


def test_an_id_found_by_two_lookups_is_credited_once(rig: Rig) -> None:
    first, second = lose_answers(rig, 2)
    # A provider that would hand both lookups the same document.
    rig.sender.found = Accepted("fax-shared", Method.FAX)
    due(rig)
    holders = [j for j in (first, second) if rig.tx(j).remote_id == "fax-shared"]
    assert len(holders) == 1
    other = second if holders == [first] else first
    assert rig.tx(other).state == TxState.OUTCOME_UNKNOWN
    assert rig.tx(other).remote_id is None
    assert len(rig.sender.submits) == 2  # nothing uploaded again


def test_an_ambiguous_lookup_fails_the_document_without_uploading_again(rig: Rig) -> None:
    (job,) = lose_answers(rig, 1)
    ambiguous = AmbiguousOutcomeError("2 transmissions could each be it", "ask the recipient")

    def find(*_: object) -> Accepted | None:
        rig.sender.lookups += 1
        raise ambiguous

    rig.sender.find_submission = find  # type: ignore[method-assign,assignment]
    for _ in range(3):
        due(rig)
    tx = rig.tx(job)
    assert tx.state == TxState.FAILED
    assert "could each be it" in (tx.error or "")
    assert rig.sender.lookups == 3
    assert len(rig.sender.submits) == 1


def test_the_providers_answer_takes_back_an_id_a_lookup_guessed(rig: Rig) -> None:
    (lost,) = lose_answers(rig, 1)
    rig.sender.found = Accepted("remote-job-0002-0", Method.FAX)  # another job's upload
    due(rig)
    assert rig.tx(lost).remote_id == "remote-job-0002-0"
    rig.sender.found = None
    answered = rig.job()  # its upload is answered with exactly that id
    rig.settle()
    assert rig.tx(answered).remote_id == "remote-job-0002-0"
    assert rig.tx(lost).state == TxState.OUTCOME_UNKNOWN
    assert rig.tx(lost).remote_id is None
