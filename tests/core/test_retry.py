from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxd.core.retry import (
    OUTCOME_LOOKUP_MAX,
    SCHEDULE_MIN,
    RetryPolicy,
    backoff_delay,
    next_attempt_at,
    outcome_lookup_delay,
    parse_retry_after,
    status_poll_delay,
)

NOW = 1_800_000_000.0
NO_JITTER = RetryPolicy(jitter=0.0)


def mid() -> float:
    return 0.5


def test_delays_grow_exponentially_up_to_the_maximum() -> None:
    delays = [
        next_attempt_at(NO_JITTER, n, NOW, NOW, None, mid) for n in range(1, NO_JITTER.max_attempts)
    ]
    assert [d - NOW for d in delays if d is not None] == [5, 10, 20, 40, 80, 160, 320]
    capped = RetryPolicy(jitter=0.0, max_attempts=20, give_up_after=1e9)
    assert next_attempt_at(capped, 12, NOW, NOW, None, mid) == NOW + 900


def test_jitter_scales_by_at_most_the_configured_fraction() -> None:
    policy = RetryPolicy(jitter=0.2)
    assert backoff_delay(policy, 3, lambda: 0.0) == pytest.approx(20 * 0.8)
    assert backoff_delay(policy, 3, lambda: 0.999999) == pytest.approx(20 * 1.2, rel=1e-5)
    assert backoff_delay(policy, 3, mid) == pytest.approx(20)


def test_jitter_never_leaves_the_bounds() -> None:
    policy = RetryPolicy(jitter=0.5)
    assert backoff_delay(policy, 1, lambda: 0.0) == policy.base_delay
    assert backoff_delay(policy, 30, lambda: 0.999) == policy.max_delay


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert next_attempt_at(policy, 2, NOW, NOW, None, mid) is not None
    assert next_attempt_at(policy, 3, NOW, NOW, None, mid) is None


def test_gives_up_when_the_next_attempt_would_be_too_late() -> None:
    policy = RetryPolicy(jitter=0.0, give_up_after=3600)
    # 3590 s after the first attempt, the next one (5 s later) still fits...
    assert next_attempt_at(policy, 1, NOW, NOW + 3590, None, mid) == NOW + 3595
    # ...but not one that would come 10 s later.
    assert next_attempt_at(policy, 2, NOW, NOW + 3595, None, mid) is None


def test_retry_after_is_a_lower_bound() -> None:
    assert next_attempt_at(NO_JITTER, 1, NOW, NOW, 120.0, mid) == NOW + 120
    # A short Retry-After does not shorten the backoff.
    assert next_attempt_at(NO_JITTER, 4, NOW, NOW, 1.0, mid) == NOW + 40


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(jitter=0.0, give_up_after=10 * 86400)
    assert next_attempt_at(policy, 1, NOW, NOW, 10 * 86400.0, mid) == NOW + 6 * 3600
    assert next_attempt_at(policy, 1, NOW, NOW, float("inf"), mid) == NOW + 6 * 3600


def test_retry_after_beyond_the_lifetime_gives_up() -> None:
    policy = RetryPolicy(give_up_after=3600)
    assert next_attempt_at(policy, 1, NOW, NOW, 7200.0, mid) is None


def test_invalid_retry_after_values_are_ignored() -> None:
    assert next_attempt_at(NO_JITTER, 1, NOW, NOW, -5.0, mid) == NOW + 5
    assert next_attempt_at(NO_JITTER, 1, NOW, NOW, float("nan"), mid) == NOW + 5


def test_huge_attempt_counts_do_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=100_000, give_up_after=1e12)
    assert backoff_delay(policy, 50_000, mid) == policy.max_delay


def test_attempts_must_be_counted_from_one() -> None:
    with pytest.raises(ValueError, match="attempts >= 1"):
        backoff_delay(RetryPolicy(), 0, mid)


@pytest.mark.parametrize(
    "kwargs",
    [{"base_delay": 0}, {"max_delay": 1}, {"factor": 0.5}, {"jitter": 1.0}, {"max_attempts": 0}],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy needs"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


policies = st.builds(
    RetryPolicy,
    base_delay=st.floats(0.1, 60),
    factor=st.floats(1, 4),
    max_delay=st.floats(60, 3600),
    jitter=st.floats(0, 0.9),
    max_attempts=st.integers(2, 50),
    give_up_after=st.floats(0, 1e7),
)
rands = st.floats(0, 1, exclude_max=True)


@given(policies, st.integers(1, 60), rands)
def test_backoff_is_monotonic_in_attempts_and_within_bounds(
    policy: RetryPolicy, attempts: int, r: float
) -> None:
    delay = backoff_delay(policy, attempts, lambda: r)
    later = backoff_delay(policy, attempts + 1, lambda: r)
    assert policy.base_delay <= delay <= later <= policy.max_delay


@given(policies, st.integers(1, 60), rands, st.floats(0, 1e6), st.floats(0, 1e9))
def test_next_attempt_is_never_early_nor_too_late(
    policy: RetryPolicy, attempts: int, r: float, elapsed: float, retry_after: float
) -> None:
    now = NOW + elapsed
    at = next_attempt_at(policy, attempts, NOW, now, retry_after, lambda: r)
    if at is None:
        return
    assert attempts < policy.max_attempts
    assert at <= NOW + policy.give_up_after
    # Retry-After is never undercut, and never believed beyond the cap (within the
    # rounding of adding a delay to an epoch timestamp).
    slack = 1e-6
    assert at - now >= min(retry_after, policy.retry_after_cap) - slack
    assert at - now <= max(policy.max_delay, min(retry_after, policy.retry_after_cap)) + slack


NOW_DT = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Sun, 22 Nov 2026 10:02:00 GMT", 120.0),
        ("Sun, 22 Nov 2026 11:02:00 +0100", 120.0),
        (None, None),
        ("", None),
        ("-5", None),
        ("soon", None),
        ("\u0663", None),  # an Arabic-Indic digit: HTTP headers use ASCII digits
        ("9" * 5000, None),
        ("Sun, 22 Nov 2026 09:00:00 GMT", None),
        ("Sun, 99 Foo 2026 10:02:00 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW_DT) == expected


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises(header: str) -> None:
    seconds = parse_retry_after(header, NOW_DT)
    assert seconds is None or seconds >= 0


def test_parse_retry_after_with_a_naive_now() -> None:
    assert parse_retry_after("Sun, 22 Nov 2026 10:00:30 GMT", NOW_DT.replace(tzinfo=None)) == 30


@given(st.integers(0, 10**7))
def test_http_date_round_trip(seconds: int) -> None:
    header = format_datetime(NOW_DT + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(header, NOW_DT) == seconds


def test_status_poll_delay() -> None:
    assert [status_poll_delay(n) for n in range(7)] == [2, 4, 8, 16, 32, 60, 60]
    assert status_poll_delay(10**9) == 60


def test_outcome_lookup_delay() -> None:
    delays = [outcome_lookup_delay(n) for n in range(7)]
    assert delays == [15, 30, 60, 120, 240, 300, 300]
    assert outcome_lookup_delay(10**9) == OUTCOME_LOOKUP_MAX


def test_the_schedules_start_from_a_configured_first_wait_of_at_least_a_second() -> None:
    assert [outcome_lookup_delay(n, 1.0) for n in range(4)] == [1, 2, 4, 8]
    assert [status_poll_delay(n, 5.0) for n in range(5)] == [5, 10, 20, 40, 60]
    # Below the minimum (a hand-built settings object; the configuration refuses it):
    # never a tight loop against the provider.
    assert outcome_lookup_delay(0, 0.0) == SCHEDULE_MIN
    assert status_poll_delay(0, -3.0) == SCHEDULE_MIN
