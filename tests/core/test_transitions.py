"""The transmission state machine: every decision is a legal move, attempts never fall
below the count before the attempt began, and a lost upload is looked up before any new
upload."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from faxd.core.retry import RetryPolicy
from faxd.core.transitions import (
    LEGAL_MOVES,
    OUTCOME_LOOKUPS,
    Failure,
    TxFacts,
    TxUpdate,
    after_empty_lookup,
    after_failure,
    is_legal,
)
from faxd.model import FINAL_TX_STATES, Method, TxState

# Where a failure can be met: an upload in flight, a pre-upload step of a queued
# transmission, or a lookup of an upload whose answer was lost.
FAILING_STATES = st.sampled_from([TxState.SUBMITTING, TxState.READY, TxState.WAITING])
POLICIES = st.builds(
    RetryPolicy,
    base_delay=st.floats(1, 60),
    max_delay=st.just(900.0),
    max_attempts=st.integers(1, 12),
    give_up_after=st.floats(0, 7 * 86400),
)
NOW = st.floats(1e9, 2e9)
RAND = st.floats(0, 1)


@st.composite
def facts(draw: st.DrawFn, states: st.SearchStrategy[TxState] = FAILING_STATES) -> TxFacts:
    state = draw(states)
    attempts = draw(st.integers(0, 20))
    first = draw(st.one_of(st.none(), st.floats(1e9 - 7 * 86400, 1e9)))
    return TxFacts(state, attempts, first, draw(st.integers(0, OUTCOME_LOOKUPS - 1)))


@given(
    facts(),
    st.sampled_from(list(Failure)),
    POLICIES,
    NOW,
    RAND,
    st.booleans(),
    st.one_of(st.none(), st.floats(0, 1e6)),
    st.booleans(),
)
def test_every_failure_leads_to_a_legal_move(
    tx: TxFacts,
    failure: Failure,
    policy: RetryPolicy,
    now: float,
    r: float,
    counted: bool,
    retry_after: float | None,
    throttled: bool,
) -> None:
    if failure is Failure.OUTCOME_UNKNOWN and tx.state is not TxState.SUBMITTING:
        return  # only an upload can have an unknown outcome
    step = after_failure(
        failure,
        tx,
        policy,
        now,
        lambda: r,
        error="x",
        counted=counted,
        retry_after=retry_after,
        throttled=throttled,
    )
    assert step.update.state is not None
    assert is_legal(tx.state, step.update.state)
    if step.update.attempts is not None:
        before_this_attempt = tx.attempts - 1 if counted else tx.attempts
        assert step.update.attempts >= before_this_attempt
        assert step.update.attempts <= tx.attempts + 1
    assert step.gave_up == (step.update.state is TxState.FAILED)
    if step.update.state is TxState.WAITING:
        assert step.update.next_attempt_at is not None and step.update.next_attempt_at >= now


@given(facts(), POLICIES, NOW, RAND)
def test_an_unknown_outcome_is_looked_up_before_any_new_upload(
    tx: TxFacts, policy: RetryPolicy, now: float, r: float
) -> None:
    step = after_failure(
        Failure.OUTCOME_UNKNOWN, tx, policy, now, lambda: r, error="lost", counted=True
    )
    assert step.update.state is TxState.OUTCOME_UNKNOWN
    assert step.update.lookups == 0
    # Walk the lookups: no state that uploads (READY/WAITING) before OUTCOME_LOOKUPS empty
    # answers, and never a move the table forbids.
    state, lookups, seen = TxState.OUTCOME_UNKNOWN, 0, 0
    while state is TxState.OUTCOME_UNKNOWN:
        nxt = after_empty_lookup(
            TxFacts(state, tx.attempts, tx.first_attempt_at, lookups),
            policy,
            now,
            lambda: r,
            lost_error="lost",
        )
        assert nxt.update.state is not None
        assert is_legal(state, nxt.update.state)
        seen += 1
        state = nxt.update.state
        lookups = nxt.update.lookups or lookups
        if state in (TxState.WAITING, TxState.READY):
            assert seen == OUTCOME_LOOKUPS
    assert seen == OUTCOME_LOOKUPS


def test_an_ambiguous_lookup_fails_rather_than_guessing_or_resending() -> None:
    tx = TxFacts(TxState.OUTCOME_UNKNOWN, 1, 1e9, OUTCOME_LOOKUPS - 1)
    step = after_empty_lookup(
        tx, RetryPolicy(), 1e9 + 60, lambda: 0.5, lost_error="lost", ambiguous="two uploads"
    )
    assert step.update.state is TxState.FAILED and step.update.error == "two uploads"


def test_final_states_move_nowhere_and_outcome_unknown_never_goes_back_to_ready() -> None:
    for final in FINAL_TX_STATES:
        assert LEGAL_MOVES[final] == frozenset()
    assert TxState.READY not in LEGAL_MOVES[TxState.OUTCOME_UNKNOWN]
    assert TxState.SUBMITTING not in LEGAL_MOVES[TxState.OUTCOME_UNKNOWN]
    assert set(LEGAL_MOVES) == set(TxState)


def test_a_throttled_answer_pauses_the_provider_for_its_retry_after() -> None:
    tx = TxFacts(TxState.SUBMITTING, 1, 1000.0)
    step = after_failure(
        Failure.TRANSIENT,
        tx,
        RetryPolicy(),
        1000.0,
        lambda: 0.5,
        error="429",
        counted=True,
        retry_after=120.0,
        throttled=True,
    )
    assert step.pause_until == 1120.0 and step.pause_reason == "throttled"
    assert step.update.next_attempt_at is not None and step.update.next_attempt_at >= 1120.0


def test_an_unknown_outcome_with_retry_after_is_not_looked_up_sooner() -> None:
    # A 503 to an upload: its lookup, and so any new upload, waits for the Retry-After,
    # believed up to retry_after_cap; a short one leaves the lookup schedule as it is.
    tx = TxFacts(TxState.SUBMITTING, 1, 1000.0)
    policy = RetryPolicy(retry_after_cap=3600.0)

    def lookup_at(retry_after: float | None) -> float | None:
        step = after_failure(
            Failure.OUTCOME_UNKNOWN,
            tx,
            policy,
            1000.0,
            lambda: 0.5,
            error="503",
            counted=True,
            retry_after=retry_after,
        )
        assert step.update.state is TxState.OUTCOME_UNKNOWN and step.pause_until is None
        return step.update.next_attempt_at

    assert lookup_at(None) == 1000.0 + policy.lookup_first
    assert lookup_at(5.0) == 1000.0 + policy.lookup_first
    assert lookup_at(120.0) == 1120.0
    assert lookup_at(86400.0) == 1000.0 + 3600.0


def test_credentials_refused_give_the_attempt_back_and_pause() -> None:
    tx = TxFacts(TxState.SUBMITTING, 3, 1000.0)
    step = after_failure(
        Failure.AUTH, tx, RetryPolicy(), 1000.0, lambda: 0.5, error="401", counted=True
    )
    assert step.update.state is TxState.WAITING and step.update.attempts == 2
    assert step.pause_reason == "auth"


def test_update_columns_carry_only_what_changes() -> None:
    update = TxUpdate(TxState.SUBMITTED, method=Method.DFT, polls=0, clear_error=True)
    assert update.columns() == {"state": "submitted", "method": "dft", "polls": 0, "error": None}


def test_giving_up_names_the_limit_and_drops_the_promise_to_try_again() -> None:
    # The report said "...503. faxd tries again later." after faxd had stopped, and a
    # give_up_after of 60 s read as if max_attempts were the number of attempts made.
    by_count = after_failure(
        Failure.TRANSIENT,
        TxFacts(TxState.SUBMITTING, 3, 1000.0),
        RetryPolicy(max_attempts=3),
        1100.0,
        lambda: 0.5,
        error="upload failed: HTTP 503. faxd tries again later.",
        counted=True,
        reason="upload failed: HTTP 503.",
    )
    assert (
        by_count.update.error
        == "gave up after 3 attempts (max_attempts 3): upload failed: HTTP 503."
    )
    by_time = after_failure(
        Failure.TRANSIENT,
        TxFacts(TxState.SUBMITTING, 4, 1000.0),
        RetryPolicy(max_attempts=50, give_up_after=60.0),
        1033.0,
        lambda: 0.5,
        error="upload failed: HTTP 503. faxd tries again later.",
        counted=True,
        reason="upload failed: HTTP 503.",
    )
    assert by_time.update.error == (
        "gave up after 4 attempts (give_up_after 60 s, 33 s since the first): "
        "upload failed: HTTP 503."
    )
