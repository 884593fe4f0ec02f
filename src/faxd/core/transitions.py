"""The transmission state machine: which moves are legal, and where a failure leads.

Like urllib3's `Retry.increment()`, `after_failure` takes what happened and returns the
next immutable value; the engine only writes it back, and the journal refuses any move
that `LEGAL_MOVES` does not list, so no code path can skip a state (an upload whose outcome
is unknown is never uploaded again without the lookups that `OUTCOME_LOOKUPS` counts)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from faxd.core.deadline import span
from faxd.core.retry import RetryPolicy, next_attempt_at, outcome_lookup_delay
from faxd.errors import (
    AuthError,
    EndpointError,
    FaxdError,
    OutcomeUnknownError,
    TransientError,
)
from faxd.model import Method, TxState

# Lookups that find nothing before faxd concludes that a lost upload never reached the
# provider and may be uploaded again. The one constant for this rule.
OUTCOME_LOOKUPS = 3
# Seconds a provider is paused after it refused our credentials or its address is wrong.
AUTH_PAUSE = 300.0

_R, _W, _S = TxState.READY, TxState.WAITING, TxState.SUBMITTING
_U, _D, _F, _T = TxState.OUTCOME_UNKNOWN, TxState.SUBMITTED, TxState.FAILED, TxState.DELIVERED

# from -> the states it may move to. A state listed as its own target may be rewritten in
# place (a new time, one more poll). Final states move nowhere: a retry is a new job.
LEGAL_MOVES: Mapping[TxState, frozenset[TxState]] = {
    _R: frozenset({_R, _S, _W, _F}),
    _W: frozenset({_W, _R, _S, _F}),
    # SUBMITTING -> WAITING only for failures that prove the request was not processed.
    _S: frozenset({_D, _U, _W, _F}),
    # OUTCOME_UNKNOWN -> WAITING only after OUTCOME_LOOKUPS lookups found nothing.
    _U: frozenset({_U, _D, _W, _F}),
    _D: frozenset({_D, _T, _F}),
    _T: frozenset(),
    _F: frozenset(),
}


def is_legal(before: TxState, after: TxState) -> bool:
    return after in LEGAL_MOVES[before]


class Failure(StrEnum):
    """What went wrong, as the state machine sees it (the provider errors, classified)."""

    OUTCOME_UNKNOWN = "outcome_unknown"  # the request may have been processed
    AUTH = "auth"  # credentials refused: every job would fail alike
    ENDPOINT = "endpoint"  # the provider's address is wrong: a configuration problem
    TRANSIENT = "transient"  # 429, 5xx, timeouts before processing: try again later
    PERMANENT = "permanent"  # the provider (or pre-flight) refuses this document


def classify(exc: FaxdError) -> Failure:
    """faxd's error tree, as the state machine sees it. Anything not named here (a
    rejection, a pre-flight or addressing problem) is the document's own: permanent."""
    if isinstance(exc, OutcomeUnknownError):
        return Failure.OUTCOME_UNKNOWN
    if isinstance(exc, AuthError):
        return Failure.AUTH
    if isinstance(exc, EndpointError):
        return Failure.ENDPOINT
    if isinstance(exc, TransientError):
        return Failure.TRANSIENT
    return Failure.PERMANENT


@dataclass(frozen=True)
class TxUpdate:
    """A typed change to one transmission: the new state and the columns that change with
    it (None: unchanged, the state included; `clear_error` empties the error)."""

    state: TxState | None = None
    next_attempt_at: float | None = None
    attempts: int | None = None
    first_attempt_at: float | None = None
    lookups: int | None = None
    polls: int | None = None
    method: Method | None = None
    remote_id: str | None = None
    status: str | None = None
    submit_started_at: float | None = None
    submitted_at: float | None = None
    error: str | None = None
    clear_error: bool = False
    updated_at: float | None = None

    def columns(self) -> dict[str, Any]:
        """Column -> value for the journal's UPDATE (enum members as their text)."""
        out: dict[str, Any] = {}
        for spec in fields(self):
            if spec.name == "clear_error":
                continue
            value = getattr(self, spec.name)
            if value is not None:
                out[spec.name] = value.value if isinstance(value, StrEnum) else value
        if self.clear_error:
            out["error"] = None
        return out


@dataclass(frozen=True)
class TxFacts:
    """What the decision needs to know of a transmission."""

    state: TxState
    attempts: int  # counted so far, this attempt included when it reached the provider
    first_attempt_at: float | None
    lookups: int = 0


@dataclass(frozen=True)
class Step:
    """Where a failure leads: the update to write, a provider pause, and whether the
    transmission gave up (`update.state` is FAILED then)."""

    update: TxUpdate
    pause_until: float | None = None
    pause_reason: str | None = None
    gave_up: bool = False


def _gave_up(policy: RetryPolicy, attempts: int, first: float, now: float, reason: str) -> str:
    """Why faxd stopped: which limit ended it, and the last failure without its "faxd
    tries again later" (it does not)."""
    if attempts >= policy.max_attempts:
        limit = f"max_attempts {policy.max_attempts}"
    else:
        limit = f"give_up_after {span(policy.give_up_after)}, {span(now - first)} since the first"
    return f"gave up after {attempts} attempts ({limit}): {reason}"


def after_failure(
    failure: Failure,
    tx: TxFacts,
    policy: RetryPolicy,
    now: float,
    rand: Callable[[], float],
    *,
    error: str,
    counted: bool,
    retry_after: float | None = None,
    throttled: bool = False,
    reason: str | None = None,
) -> Step:
    """The next value of a transmission after `failure`.

    `counted`: the failed request was an upload, already counted in `tx.attempts`; a
    failure before any upload (the DFT check) counts as an attempt here, or a check that
    keeps failing would be retried at the first backoff step for ever."""
    if failure is Failure.OUTCOME_UNKNOWN:
        wait = outcome_lookup_delay(0, policy.lookup_first)
        if retry_after is not None and retry_after >= 0 and not math.isnan(retry_after):
            # A provider that asked for time (a 503 with Retry-After) is not asked sooner,
            # and its lookups come first, so a new upload cannot come sooner either.
            wait = max(wait, min(retry_after, policy.retry_after_cap))
        return Step(
            TxUpdate(
                _U,
                lookups=0,
                next_attempt_at=now + wait,
                error=error,
                updated_at=now,
            )
        )
    if failure in (Failure.AUTH, Failure.ENDPOINT):
        # Not the document's fault: the attempt is given back, so a long credential
        # outage cannot use up the document's attempts.
        attempts = max(0, tx.attempts - 1) if counted else tx.attempts
        return Step(
            TxUpdate(
                _W,
                attempts=attempts,
                next_attempt_at=now + AUTH_PAUSE,
                error=error,
                updated_at=now,
            ),
            pause_until=now + AUTH_PAUSE,
            pause_reason="auth" if failure is Failure.AUTH else "config",
        )
    if failure is Failure.TRANSIENT:
        attempts = tx.attempts if counted else tx.attempts + 1
        first = tx.first_attempt_at if tx.first_attempt_at is not None else now
        pause_until = None
        if throttled:
            wait = retry_after if retry_after is not None else policy.base_delay
            pause_until = now + min(wait, policy.retry_after_cap)
        at = next_attempt_at(policy, max(attempts, 1), first, now, retry_after, rand)
        if at is None:
            return Step(
                TxUpdate(
                    _F,
                    attempts=attempts,
                    first_attempt_at=first,
                    error=_gave_up(policy, attempts, first, now, reason or error),
                    updated_at=now,
                ),
                pause_until=pause_until,
                pause_reason="throttled" if pause_until is not None else None,
                gave_up=True,
            )
        return Step(
            TxUpdate(
                _W,
                attempts=attempts,
                first_attempt_at=first,
                next_attempt_at=at,
                error=error,
                updated_at=now,
            ),
            pause_until=pause_until,
            pause_reason="throttled" if pause_until is not None else None,
        )
    return Step(TxUpdate(_F, error=error, updated_at=now), gave_up=True)


def after_empty_lookup(
    tx: TxFacts,
    policy: RetryPolicy,
    now: float,
    rand: Callable[[], float],
    *,
    lost_error: str,
    ambiguous: str | None = None,
) -> Step:
    """A lookup found no upload of this transmission. Ask again later; only after
    OUTCOME_LOOKUPS empty answers conclude that it was lost, which counts as a failed
    attempt (retried under the policy). When the provider listed uploads faxd could not
    tell apart (`ambiguous`), sending again could fax it twice and crediting a guess could
    report another document's fax as this one's: it fails, and the office decides."""
    done = tx.lookups + 1
    if done < OUTCOME_LOOKUPS:
        return Step(
            TxUpdate(
                _U,
                lookups=done,
                next_attempt_at=now + outcome_lookup_delay(done, policy.lookup_first),
                updated_at=now,
            )
        )
    if ambiguous is not None:
        return Step(TxUpdate(_F, lookups=done, error=ambiguous, updated_at=now), gave_up=True)
    step = after_failure(Failure.TRANSIENT, tx, policy, now, rand, error=lost_error, counted=True)
    return Step(
        replace(step.update, lookups=done),
        pause_until=step.pause_until,
        pause_reason=step.pause_reason,
        gave_up=step.gave_up,
    )
