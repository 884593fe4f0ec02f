"""Status queries: how faxd learns what became of an upload. An upload whose answer was
lost (OUTCOME_UNKNOWN) is looked up among the provider's documents before anything is
sent again; an accepted one (SUBMITTED) is asked for its status until it is final or its
status_timeout runs out; a provider with a report listing (Retarus) is swept for results
the polling missed. The engine (faxd.outbound.engine) decides when each runs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Container, Mapping
from datetime import UTC, datetime
from pathlib import Path

import structlog

from faxd.clock import Clock
from faxd.core.deadline import span
from faxd.core.retry import RetryPolicy
from faxd.core.transitions import AUTH_PAUSE, TxFacts, TxUpdate, after_empty_lookup
from faxd.errors import AmbiguousOutcomeError, AuthError, FaxdError, ProviderError, TransientError
from faxd.model import Accepted, Method, TxState
from faxd.outbound.outcomes import Outcomes, cleanup, files_of, submission_for, work_dir
from faxd.providers.base import ReportSweeper, Sender
from faxd.providers.docs_wire import upload_token
from faxd.store.journal import Journal
from faxd.store.journal_rows import DueTx, JobRow, TxRow

log = structlog.get_logger("faxd.outbound.engine")

QUERY_STATES = (TxState.OUTCOME_UNKNOWN, TxState.SUBMITTED)
QUERY_RETRY = 5.0  # seconds before a failed status query or lookup is asked again


class StatusQueries:
    def __init__(
        self,
        journal: Journal,
        senders: Mapping[str, Sender],
        clock: Clock,
        outcomes: Outcomes,
        *,
        pause: Callable[[str, float, str], None],
        policy: Callable[[JobRow, str], RetryPolicy],
        rand: Callable[[], float],
    ) -> None:
        """`senders`: the engine's own mapping, which a reload updates in place. `pause`
        pauses a provider (until, reason); `policy` is a job's retry policy there."""
        self._journal = journal
        self._senders = senders
        self._clock = clock
        self._outcomes = outcomes
        self._pause = pause
        self._policy = policy
        self._rand = rand
        self._refused: set[str] = set()  # transmissions whose refused query was logged loud
        # Transmissions put off by a credentials pause, which a reload asks about at once;
        # only these: any other wait (a lookup's) keeps its pace.
        self._parked: dict[str, set[tuple[str, int]]] = {}
        self._parked_lock = threading.Lock()

    def take_parked(self, provider: str) -> set[tuple[str, int]]:
        """The provider's transmissions waiting out a credentials pause, forgotten here."""
        with self._parked_lock:
            return self._parked.pop(provider, set())

    def query(self, tx: DueTx, provider: str) -> None:
        job, txs = self._journal.job_and_transmissions(tx.job_id)
        current = next((t for t in txs if t.idx == tx.idx), None)
        if current is None or job is None or current.state not in QUERY_STATES:
            return
        sender = self._senders[provider]
        with self._parked_lock:
            self._parked.get(provider, set()).discard((tx.job_id, tx.idx))
        try:
            if current.state == TxState.OUTCOME_UNKNOWN:
                self._resolve_unknown(job, current, sender)
            else:
                self._track(job, current, sender)
        except AuthError as exc:
            self._pause(provider, self._clock.time() + AUTH_PAUSE, "auth")
            log.error(
                "provider refused our credentials; its queue is paused",
                provider=provider,
                error=str(exc),
            )
            self._journal.apply(
                tx.job_id, tx.idx, TxUpdate(next_attempt_at=self._clock.time() + AUTH_PAUSE)
            )
            with self._parked_lock:
                self._parked.setdefault(provider, set()).add((tx.job_id, tx.idx))
        except ProviderError as exc:
            now = self._clock.time()
            if current.state == TxState.SUBMITTED and self._timed_out(
                job, current, now, "its status could not be had", current.status
            ):
                return
            if current.state == TxState.OUTCOME_UNKNOWN and self._unknowable(
                job, current, provider, now, exc
            ):
                return
            if _refused(exc) and current.key not in self._refused:
                # A refusal is not the network's hiccup: someone should look, but once.
                self._refused.add(current.key)
                log.warning(
                    "the provider refused the status query or lookup; asking again later",
                    job=job.id,
                    recipient=current.number,
                    error=str(exc),
                )
            delay = (
                exc.retry_after
                if isinstance(exc, TransientError) and exc.retry_after
                else QUERY_RETRY
            )
            if isinstance(exc, TransientError) and exc.throttled:
                # As for an upload: a 429 throttles the whole provider, and says so.
                self._pause(provider, now + delay, "throttled")
            if current.submitted_at is not None:
                # Never past the status_timeout, not even on a long Retry-After.
                ends = current.submitted_at + job.options.status_timeout
                delay = min(delay, max(ends - now, 0.0) + QUERY_RETRY)
            log.info("status query failed; asking again later", job=job.id, error=str(exc))
            self._journal.apply(tx.job_id, tx.idx, TxUpdate(next_attempt_at=now + delay))

    def _resolve_unknown(self, job: JobRow, tx: TxRow, sender: Sender) -> None:
        now = self._clock.time()
        files = files_of(job)
        try:
            # As uploaded (converted where the provider needed it): a lookup compares bytes.
            files = sender.prepare(files, work_dir(self._outcomes.settings, job))
        except FaxdError as exc:
            log.info("lookup without the prepared files", job=job.id, error=str(exc))
        submission = submission_for(job, tx, files, dft=tx.method == Method.DFT)
        since = tx.submit_started_at or job.received_at
        bound = log.bind(
            job=job.id, document=job.rel_path, recipient=tx.number, provider=sender.name
        )
        ambiguous: AmbiguousOutcomeError | None = None
        try:
            found = sender.find_submission(
                submission,
                datetime.fromtimestamp(since, UTC),
                self._journal.remote_ids(sender.name),
            )
        except AmbiguousOutcomeError as exc:
            found, ambiguous = None, exc
        if found is not None:
            if not self._outcomes.accepted(tx, found, sender.name):
                # Another lookup credited it a moment ago: list again without it.
                self._journal.apply(tx.job_id, tx.idx, TxUpdate(next_attempt_at=now + QUERY_RETRY))
                return
            bound.info("the lost upload had been accepted", remote_id=found.remote_id)
            return
        step = after_empty_lookup(
            TxFacts(TxState.OUTCOME_UNKNOWN, tx.attempts, tx.first_attempt_at, tx.lookups),
            self._policy(job, sender.name),
            now,
            self._rand,
            lost_error=f"upload of {Path(job.path).name} was lost on the way",
            ambiguous=str(ambiguous) if ambiguous is not None else None,
        )
        if step.gave_up:
            assert step.update.error is not None
            self._outcomes.fail(job, tx, step.update.error)
            return
        requeued = step.update.state is TxState.WAITING
        if requeued:
            bound.warning("the provider has no trace of the lost upload; sending it again")
        self._outcomes.step(job, tx, step.update, now, requeued=requeued)

    def _track(self, job: JobRow, tx: TxRow, sender: Sender) -> None:
        assert tx.remote_id is not None
        now = self._clock.time()
        status = sender.status(tx.remote_id)
        if not status.about(tx.remote_id):
            # Whatever the provider code made of the answer, a result filed for this fax
            # must be about this fax.
            raise TransientError(
                f"the provider answered about {status.remote_id}, not {tx.remote_id}.",
                "faxd asks again later.",
            )
        if status.final:
            self._outcomes.record_final(job, tx, status)
            return
        if self._timed_out(job, tx, now, f"still '{status.status}'", status.status):
            return
        self._journal.apply(
            tx.job_id,
            tx.idx,
            TxUpdate(
                status=status.status,
                polls=tx.polls + 1,
                next_attempt_at=now + self._outcomes.poll_delay(sender.name, tx.polls + 1),
                updated_at=now,
            ),
        )

    def _timed_out(self, job: JobRow, tx: TxRow, now: float, what: str, status: str | None) -> bool:
        """Fail an accepted transmission whose status_timeout ran out (True), whether the
        provider still says "Sending" or its status cannot be had at all."""
        timeout = job.options.status_timeout
        if tx.submitted_at is None or now - tx.submitted_at <= timeout:
            return False
        error = (
            f"{what} {span(timeout)} after it was accepted (status_timeout); ask the provider"
            " whether it arrived before sending it again"
        )
        self._outcomes.fail(job, tx, error, status=status)
        return True

    def _unknowable(
        self, job: JobRow, tx: TxRow, provider: str, now: float, exc: ProviderError
    ) -> bool:
        """Fail a lost upload the provider could not be asked about until its deadline ran
        out (True): never delivered, and never sent again, since it may have arrived."""
        started = tx.submit_started_at or tx.first_attempt_at or job.received_at
        limit = min(self._policy(job, provider).give_up_after, job.options.status_timeout)
        if now - started <= limit:
            return False
        self._refused.discard(tx.key)
        reference = _reference(self._outcomes, provider, tx)
        error = (
            f"the upload to {tx.number} may have reached the provider, but for {span(limit)}"
            f" after it started faxd could not ask whether it arrived ({exc.message});"
            f" check at the provider, with this transmission's reference {reference},"
            " whether it arrived before you run faxd retry"
        )
        self._outcomes.fail(job, tx, error)
        return True

    def sweep(self, provider: str, sender: Sender, in_flight: Container[str]) -> None:
        """Catch results the per-transmission polling missed (a report listing).
        `in_flight`: transmissions an upload or query is working on now, left to it."""
        if not isinstance(sender, ReportSweeper):
            return
        try:
            finished = sender.sweep()
        except FaxdError as exc:
            log.info("result sweep failed; trying again later", provider=provider, error=str(exc))
            return
        for reference, status in finished:
            job_id, _, idx = reference.rpartition("-")
            tx = self._journal.transmission(job_id, int(idx)) if idx.isdigit() else None
            job = self._journal.job(job_id) if tx is not None else None
            if tx is None or job is None or job.provider != provider:
                continue  # not one of ours
            if job.archived_at is not None:
                # Recorded and filed, but the report outlived a crash: forget it now.
                cleanup(sender, [status.remote_id])
                continue
            if tx.state not in QUERY_STATES or tx.key in in_flight:
                continue
            if tx.remote_id is not None and not status.about(tx.remote_id):
                # Our reference on a report of another job: not this upload's result.
                log.warning(
                    "the sweep found a report with this job's reference but another job id;"
                    " ignored",
                    job=job_id,
                    remote_id=tx.remote_id,
                    reported=status.remote_id,
                )
                continue
            log.info("result found by the sweep", job=job_id, remote_id=status.remote_id)
            if tx.state == TxState.OUTCOME_UNKNOWN:
                if not self._outcomes.accepted(
                    tx, Accepted(status.remote_id, Method.FAX), provider
                ):
                    continue
                tx = self._journal.transmission(job_id, tx.idx) or tx
            self._outcomes.record_final(job, tx, status)


def _reference(outcomes: Outcomes, provider: str, tx: TxRow) -> str:
    """How the provider's own pages name this transmission."""
    settings = outcomes.settings.providers.get(provider)
    if settings is not None and settings.type == "generic-docs":
        return f"fx{upload_token(tx.key)} (in the uploaded file names)"
    return f"{tx.key} (Retarus: the job's customerDefinedId)"


def _refused(exc: ProviderError) -> bool:
    """The provider answered the query with a refusal (a 4xx but 408/429), not a hiccup."""
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return 400 <= code < 500 and code not in (408, 429)
    return not isinstance(exc, TransientError)
