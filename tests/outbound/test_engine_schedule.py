"""The outcome-lookup and status-poll schedules, on the fake clock: 15, 30, 60 s and
2, 4, 8 s by default, and from a provider's `lookup_delay` and `status_poll` when set."""

from __future__ import annotations

from dataclasses import replace

from faxd.errors import OutcomeUnknownError
from faxd.model import TxState
from faxd.settings import DocsProviderSettings, Secret

from .engine_rig import Rig


def configure(rig: Rig, lookup_delay: float = 15.0, status_poll: float = 2.0) -> None:
    """Give the fake sender a provider entry, as the configuration would."""
    provider = DocsProviderSettings(
        name="fake",
        api_key=Secret("fake-key-1234"),
        lookup_delay=lookup_delay,
        status_poll=status_poll,
    )
    settings = replace(rig.engine._settings, providers={"fake": provider})
    rig.engine.reconfigure(settings, {"fake": rig.sender})


def lookup_waits(rig: Rig) -> list[float]:
    job = rig.job()
    rig.sender.answers = [OutcomeUnknownError("connection closed")]
    rig.settle()
    waits = []
    while rig.tx(job).state == TxState.OUTCOME_UNKNOWN:
        wait = rig.tx(job).next_attempt_at - rig.clock.time()
        waits.append(wait)
        rig.clock.advance(wait)
        rig.settle()
    assert rig.sender.lookups == 3
    return waits


def poll_waits(rig: Rig, polls: int) -> list[float]:
    job = rig.job()
    rig.sender.final = False
    rig.settle()
    waits = []
    for _ in range(polls):
        assert rig.tx(job).state == TxState.SUBMITTED
        wait = rig.tx(job).next_attempt_at - rig.clock.time()
        waits.append(wait)
        rig.clock.advance(wait)
        rig.settle()
    return waits


def test_the_default_lookup_schedule_is_15_30_60_seconds(rig: Rig) -> None:
    assert lookup_waits(rig) == [15, 30, 60]


def test_a_providers_lookup_delay_starts_the_schedule(rig: Rig) -> None:
    configure(rig, lookup_delay=1.0)
    assert lookup_waits(rig) == [1, 2, 4]


def test_the_default_status_polls_wait_2_4_8_seconds(rig: Rig) -> None:
    assert poll_waits(rig, 3) == [2, 4, 8]


def test_a_providers_status_poll_starts_the_schedule(rig: Rig) -> None:
    configure(rig, status_poll=1.0)
    assert poll_waits(rig, 3) == [1, 2, 4]


def test_an_unknown_outcome_with_retry_after_waits_for_it_before_the_lookup(rig: Rig) -> None:
    # A 503 to an upload with Retry-After: 40: the first lookup waits 40 s, not 15, and the
    # new upload after three empty lookups comes later still.
    job = rig.job()
    rig.sender.answers = [OutcomeUnknownError("HTTP 503", retry_after=40.0, status_code=503)]
    rig.settle()
    start = rig.sender.submits[0][0]
    tx = rig.tx(job)
    assert tx.state == TxState.OUTCOME_UNKNOWN
    assert tx.next_attempt_at - start == 40
    rig.clock.advance(39)
    rig.settle()
    assert rig.sender.lookups == 0
    while len(rig.sender.submits) < 2:
        rig.clock.advance(rig.tx(job).next_attempt_at - rig.clock.time())
        rig.settle()
    assert rig.sender.lookups == 3
    assert rig.sender.submits[1][0] - start >= 40 + 30 + 60
    assert rig.tx(job).state == TxState.SUBMITTED
