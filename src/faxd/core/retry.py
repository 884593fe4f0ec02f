"""When to try again: exponential backoff with jitter, Retry-After, status polling.

A retry policy is an immutable value (like urllib3's `Retry`): the engine keeps the
number of attempts and the time of the first one in its journal, and asks this module
when the next attempt may start, so a restart changes nothing."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_DELTA_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,9})?", re.ASCII)

# Each schedule starts at its first wait (a provider's `status_poll` and `lookup_delay`,
# at least SCHEDULE_MIN so a provider is never asked in a tight loop) and doubles up to
# its maximum.
SCHEDULE_MIN = 1.0
STATUS_POLL_FIRST = 2.0
STATUS_POLL_MAX = 60.0

OUTCOME_LOOKUP_FIRST = 15.0
OUTCOME_LOOKUP_MAX = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    base_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 900.0
    jitter: float = 0.2  # each delay is scaled by a random factor in [1 - jitter, 1 + jitter)
    max_attempts: int = 8
    give_up_after: float = 86400.0  # seconds after the first attempt
    retry_after_cap: float = 6 * 3600  # a provider's Retry-After is believed up to this
    lookup_first: float = OUTCOME_LOOKUP_FIRST  # the provider's lookup_delay

    def __post_init__(self) -> None:
        if not 0 < self.base_delay <= self.max_delay:
            raise ValueError("RetryPolicy needs 0 < base_delay <= max_delay")
        if self.factor < 1:
            raise ValueError("RetryPolicy needs factor >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("RetryPolicy needs 0 <= jitter < 1")
        if self.max_attempts < 1 or self.give_up_after < 0 or self.retry_after_cap < 0:
            raise ValueError(
                "RetryPolicy needs max_attempts >= 1 and non-negative give_up_after "
                "and retry_after_cap"
            )


def backoff_delay(policy: RetryPolicy, attempts: int, rand: Callable[[], float]) -> float:
    """The jittered delay after `attempts` failed attempts, within [base_delay, max_delay]."""
    if attempts < 1:
        raise ValueError(f"backoff_delay() needs attempts >= 1, got {attempts}")
    try:
        raw = policy.base_delay * policy.factor ** (attempts - 1)
    except OverflowError:
        raw = math.inf
    delay = min(policy.max_delay, raw)
    r = min(max(rand(), 0.0), 1.0)
    delay *= 1.0 + policy.jitter * (2.0 * r - 1.0)
    # Jitter spreads retries apart but must not break the configured bounds.
    return min(policy.max_delay, max(policy.base_delay, delay))


def next_attempt_at(
    policy: RetryPolicy,
    attempts: int,
    first_attempt_at: float,
    now: float,
    retry_after: float | None,
    rand: Callable[[], float],
) -> float | None:
    """When the next attempt may start (wall-clock seconds), or None to give up.

    `attempts` counts the attempts made so far (>= 1). A Retry-After is a lower bound,
    capped at `retry_after_cap`. Gives up after `max_attempts`, or when the next attempt
    would fall after `first_attempt_at + give_up_after`."""
    if attempts >= policy.max_attempts:
        return None
    delay = backoff_delay(policy, attempts, rand)
    if retry_after is not None and retry_after >= 0 and not math.isnan(retry_after):
        delay = max(delay, min(retry_after, policy.retry_after_cap))
    at = now + delay
    if at > first_attempt_at + policy.give_up_after:
        return None
    return at


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date.

    None when the header is missing, invalid, negative or names a time already past:
    the caller then falls back to its own backoff."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    if seconds < 0:
        return None
    return seconds


def status_poll_delay(polls_done: int, first: float = STATUS_POLL_FIRST) -> float:
    """Seconds until the next status query of a submitted transmission: 2, 4, 8 … 60
    (from `first`, the provider's status_poll)."""
    exponent = min(max(polls_done, 0), 16)
    return min(STATUS_POLL_MAX, max(first, SCHEDULE_MIN) * 2.0**exponent)


def outcome_lookup_delay(lookups_done: int, first: float = OUTCOME_LOOKUP_FIRST) -> float:
    """Seconds until faxd asks again whether a lost upload was accepted: 15, 30 … 300
    (from `first`, the provider's lookup_delay).

    The first lookup waits too, because a provider may list a transmission only a few
    seconds after it accepted it."""
    exponent = min(max(lookups_done, 0), 16)
    return min(OUTCOME_LOOKUP_MAX, max(first, SCHEDULE_MIN) * 2.0**exponent)
