"""The outbound engine: when each transmission is uploaded or asked about, and the uploads.

A dispatcher thread picks transmissions whose time has come from the journal and hands
them to a bounded pool per provider (uploads) and a small one (status queries, in
faxd.outbound.status_queries). Every state is committed before the effect it allows:
SUBMITTING before the upload leaves, the provider's id the moment it answers
(faxd.outbound.outcomes, which also records results and files finished jobs). A failure
goes where faxd.core.transitions says, and pauses the provider when it must."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from faxd.clock import Clock
from faxd.core.deadline import transmit_by
from faxd.core.dft import check_refused_for_every_number, should_check_dft, use_dft
from faxd.core.retry import (
    RetryPolicy,
)
from faxd.core.transitions import (
    Failure,
    Step,
    TxFacts,
    TxUpdate,
    after_failure,
    classify,
)
from faxd.crash_points import crash_point
from faxd.errors import (
    AskAgainError,
    AuthError,
    FaxdError,
    ProviderError,
    RejectedError,
    TransientError,
)
from faxd.model import Method, TxState
from faxd.outbound.archive import Archiver
from faxd.outbound.outcomes import Outcomes, files_of, submission_for, work_dir
from faxd.outbound.status_queries import QUERY_STATES, StatusQueries
from faxd.providers.base import GateShut, ReportSweeper, Sender
from faxd.settings import Settings
from faxd.store.journal import Journal, JournalWriteError
from faxd.store.journal_rows import DueTx, JobRow, TxRow

log = structlog.get_logger("faxd.outbound.engine")

UPLOAD_STATES = (TxState.READY, TxState.WAITING)
QUERY_WORKERS = 2
JOURNAL_BACKOFF_MAX = 60.0  # longest wait between tries of a journal that takes no writes
JOURNAL_QUICK = 5.0  # shortest, once other writes got through again
SWEEP_INTERVAL = 600.0  # seconds between provider-wide result sweeps (Retarus reports)
DELAY_WARNING = 4 * 3600.0  # a transmission retried this long gets one warning in the log
# Uploads under way per request slot: while `concurrency` requests are at the provider,
# as many more read their rows and check their files, so a slot that frees is taken by an
# upload ready to leave. A slot covers the SUBMITTING commit and the request.
UPLOADS_PER_SLOT = 2
STATUS_HOLD = 30.0  # how long a due status query waits while every upload is under way


@dataclass(frozen=True)
class Pause:
    until: float
    reason: str


class Engine:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        senders: Mapping[str, Sender],
        archiver: Archiver,
        clock: Clock,
        *,
        on_archived: Callable[[str], None] = lambda job_id: None,
        retry: RetryPolicy | None = None,
        rand: Callable[[], float] = random.random,
        only_job: str | None = None,
    ) -> None:
        """`only_job`: the one job this engine works (`faxd send` sending by itself, which
        holds no claim on the spool folders the journal's other jobs came from); None: every
        job in the journal (the daemon)."""
        self._settings = settings
        self._only_job = only_job
        self._journal = journal
        self._senders = dict(senders)
        self._archiver = archiver
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._rand = rand
        self._wake = threading.Condition()
        # Set by every notify, cleared by the dispatcher before it looks at the journal: a
        # wake that comes while it looks is not lost, and it never waits for the journal
        # while holding _wake (which every upload's start and end takes).
        self._woken = False
        self._inflight: set[str] = set()
        self._uploads: dict[str, int] = {}
        self._queries: dict[str, int] = {}
        self._pauses: dict[str, Pause] = {}
        self._dft_check_refused: set[str] = set()  # providers whose DFT check said no for all
        self._accepting = True
        self._pools: dict[str, ThreadPoolExecutor] = {}
        # `concurrency` requests at the provider at once, per provider (see UPLOADS_PER_SLOT).
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._slot_size = settings.concurrency
        self._query_pool = ThreadPoolExecutor(QUERY_WORKERS, thread_name_prefix="faxd-query")
        self.heartbeat = clock.monotonic()
        self._journal_backoff = 0.5
        self._journal_failed_at = -JOURNAL_BACKOFF_MAX * 2
        self._journal_failures_seen = journal.write_failures
        self._journal_recheck = False
        self._journal_successes_then = 0
        self.outcomes = Outcomes(settings, journal, self._senders, archiver, clock, on_archived)
        self.queries = StatusQueries(
            journal,
            self._senders,
            clock,
            self.outcomes,
            pause=self._pause,
            policy=self._policy,
            rand=rand,
        )
        self._make_pools()

    def _make_pools(self) -> None:
        size = self._settings.concurrency
        resized = size != self._slot_size
        for name in self._senders:
            if name not in self._pools or resized:
                # A reload that raised `concurrency` must not leave uploads queued inside
                # a pool too small for them (a stop cancels those and then waits for them).
                old = self._pools.get(name)
                self._pools[name] = ThreadPoolExecutor(
                    size * UPLOADS_PER_SLOT, thread_name_prefix=f"faxd-up-{name}"
                )
                if old is not None:
                    old.shutdown(wait=False)  # its uploads under way finish on its threads
            if name not in self._slots or resized:
                # An upload holding the old semaphore gives that one back.
                self._slots[name] = threading.BoundedSemaphore(size)
        self._slot_size = size

    # -- control -----------------------------------------------------------------------

    def reconfigure(self, settings: Settings, senders: Mapping[str, Sender]) -> None:
        with self._wake:
            self._settings = settings
            self.outcomes.settings = settings
            self._senders.update(senders)
            # SIGHUP resumes paused providers: new credentials get a try at once.
            now = self._clock.time()
            for provider, pause in self._pauses.items():
                if pause.reason in ("auth", "config"):
                    self._journal.wake_waiting(provider, now)
                self._journal.clear_pause(provider)
            for provider in self._senders:
                self._journal.wake_queries(self.queries.take_parked(provider), now)
            self._pauses.clear()
            self._dft_check_refused.clear()
            self._make_pools()
            self._notify()

    def wake(self) -> None:
        with self._wake:
            self._notify()

    def _notify(self) -> None:
        # Called holding _wake.
        self._woken = True
        self._wake.notify_all()

    def paused(self) -> dict[str, Pause]:
        now = self._clock.time()
        return {k: v for k, v in self._pauses.items() if v.until > now}

    def in_flight(self) -> int:
        return len(self._inflight)

    def uploading(self) -> int:
        """Uploads in progress (status queries not counted)."""
        return sum(self._uploads.values())

    def stop_accepting(self) -> None:
        """SIGTERM: no new upload starts; what runs finishes or is parked for the next start."""
        with self._wake:
            self._accepting = False
            self._notify()

    def shutdown(self, timeout: float) -> None:
        self.stop_accepting()
        for pool in [*self._pools.values(), self._query_pool]:
            pool.shutdown(wait=False, cancel_futures=True)
        # Real time, not the injected clock: this waits for threads, which a fake clock
        # standing still must not turn into a hang.
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._inflight and time.monotonic() < deadline:
                self._wake.wait(0.1)

    # -- dispatching -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        last_sweep = self._clock.monotonic()
        while not stop.is_set() and self._accepting:
            self.heartbeat = self._clock.monotonic()
            with self._wake:
                self._woken = False
            wait = 1.0
            try:
                self.dispatch()
                # A sweep records (and files) whatever job the provider reports on.
                if self._only_job is None and self.heartbeat - last_sweep >= SWEEP_INTERVAL:
                    last_sweep = self.heartbeat
                    self._start_sweeps()
                wait = self._idle_wait()
            except Exception:
                log.exception("dispatcher error; continuing")
            with self._wake:
                if not self._woken:
                    self._wake.wait(wait)

    def _idle_wait(self) -> float:
        nxt = self._journal.next_due_time((*UPLOAD_STATES, *QUERY_STATES), job_id=self._only_job)
        if nxt is None:
            return 1.0
        return max(0.01, min(1.0, nxt - self._clock.time()))

    def _journal_writable(self) -> bool:
        """False for a while after a journal write failed (a full state disk): nothing
        starts then, since every upload or status query would end in a write that fails.
        The wait doubles from 1 s to a minute while failures keep coming."""
        now = self._clock.monotonic()
        failures = self._journal.write_failures
        if failures != self._journal_failures_seen:
            self._journal_failures_seen = failures
            recent = now - self._journal_failed_at < self._journal_backoff + JOURNAL_BACKOFF_MAX
            self._journal_backoff = (
                min(JOURNAL_BACKOFF_MAX, self._journal_backoff * 2) if recent else 1.0
            )
            self._journal_failed_at = now
            self._journal_successes_then = self._journal.write_successes
            self._journal_recheck = True
        waited = now - self._journal_failed_at
        # Writes that got through since (the intake's, the records') end the wait early.
        written = self._journal.write_successes > self._journal_successes_then
        if waited < self._journal_backoff and not (written and waited >= JOURNAL_QUICK):
            return False
        if self._journal_recheck and not any(self._uploads.values()):
            # An upload the provider accepted while its answer could not be recorded is
            # still SUBMITTING: ask the provider about it rather than upload again.
            try:
                self._journal.reset_interrupted(self._clock.time())
            except JournalWriteError:
                return False
            self._journal_recheck = False
        return True

    def dispatch(self) -> None:
        if not self._journal_writable():
            return
        now = self._clock.time()
        paused = self.paused()
        # Ask the journal only for providers with room for another upload, and only for as
        # many rows as may be under way (in-flight rows included): with thousands of jobs
        # queued, reading 1000 rows on every wake-up held the journal lock the intake needs.
        for provider in [p for p in list(self._senders) if p not in paused]:
            ahead = self._settings.concurrency * UPLOADS_PER_SLOT
            self._fill(provider, UPLOAD_STATES, now, ahead, upload=True)
            if self._uploads.get(provider, 0) < ahead:
                self._fill(provider, QUERY_STATES, now, QUERY_WORKERS, upload=False)
                continue
            # As many uploads under way as may be: documents wait to leave. Lookups still
            # run (a re-upload may wait on one), status queries only once STATUS_HOLD
            # overdue, so the CPU goes to sending first and the reports follow a little later.
            self._fill(provider, (TxState.OUTCOME_UNKNOWN,), now, QUERY_WORKERS, upload=False)
            held = now - STATUS_HOLD
            self._fill(provider, (TxState.SUBMITTED,), held, QUERY_WORKERS, upload=False)

    def _fill(
        self, provider: str, states: tuple[TxState, ...], due: float, slots: int, *, upload: bool
    ) -> None:
        """Start due transmissions of `provider` in `states` while it has free `slots`."""
        counter = self._uploads if upload else self._queries
        if counter.get(provider, 0) >= slots:
            return
        due_now = self._journal.due_transmissions(
            states, due, slots, provider, job_id=self._only_job
        )
        for tx in due_now:
            if counter.get(provider, 0) >= slots:
                break
            if tx.key not in self._inflight:
                self._start(tx, provider, upload=upload)

    def _start(self, tx: DueTx, provider: str, *, upload: bool) -> None:
        if not self._accepting:
            return
        counter = self._uploads if upload else self._queries
        with self._wake:
            self._inflight.add(tx.key)
            counter[provider] = counter.get(provider, 0) + 1
        pool = self._pools[provider] if upload else self._query_pool
        work = self._upload if upload else self.queries.query
        try:
            pool.submit(self._guard, work, tx, provider, counter)
        except RuntimeError:  # the pool is shutting down
            self._done(tx, provider, counter)

    def _guard(
        self,
        work: Callable[[DueTx, str], None],
        tx: DueTx,
        provider: str,
        counter: dict[str, int],
    ) -> None:
        try:
            work(tx, provider)
        except JournalWriteError:
            pass  # said once by the journal; dispatch waits until it takes writes again
        except Exception:
            log.exception("unexpected error; the transmission will be tried again", job=tx.job_id)
            self._journal.apply(
                tx.job_id, tx.idx, TxUpdate(next_attempt_at=self._clock.time() + 60.0)
            )
        finally:
            self._done(tx, provider, counter)

    def _done(self, tx: DueTx, provider: str, counter: dict[str, int]) -> None:
        with self._wake:
            self._inflight.discard(tx.key)
            counter[provider] = max(0, counter.get(provider, 0) - 1)
            self._notify()

    # -- uploads -----------------------------------------------------------------------

    def _upload(self, due: DueTx, provider: str) -> None:
        sender = self._senders[provider]
        fresh_after = self._clock.time() - self._settings.dft_cache
        view = self._journal.for_upload(due.job_id, due.idx, sender.name, fresh_after)
        if view is None or view[0].state not in UPLOAD_STATES:
            return
        tx, job, cached_dft = view
        bound = log.bind(job=job.id, document=job.rel_path, recipient=tx.number, provider=provider)
        files = files_of(job)
        missing = [f.name for f in files if not f.path.is_file()]
        if missing:
            if self._archiver.presence.away(Path(job.folder)):
                bound.warning("spool folder is missing; waiting for it to come back")
                self._journal.apply(
                    tx.job_id, tx.idx, TxUpdate(next_attempt_at=self._clock.time() + 60)
                )
                return
            self.outcomes.fail(
                job,
                tx,
                f"{', '.join(missing)} was removed from the spool folder before it was sent.",
            )
            return
        try:
            prepared = sender.prepare(files, work_dir(self._settings, job))
            dft = self._decide_dft(sender, job, tx, cached_dft)
        except FaxdError as exc:
            self._handle_error(job, tx, sender, exc, counted=False)
            return
        timeout = job.options.status_timeout
        submission = replace(
            submission_for(job, tx, prepared, dft),
            valid_until=datetime.fromtimestamp(transmit_by(self._clock.time(), timeout), UTC),
        )
        started: TxRow | None = None  # the row as committed SUBMITTING, once the gate opened

        @contextmanager
        def gate() -> Iterator[None]:
            nonlocal started
            # Entered once the provider built the request: the slot is taken before the
            # SUBMITTING commit, so a transmission waiting for one is still queued (for
            # `faxd status`, for a stop, for a pause), never half sent.
            with self._slots[provider]:
                started = self._submitting(tx, dft, provider, bound)
                if started is None:
                    raise GateShut
                yield

        failed: FaxdError | None = None
        try:
            accepted = sender.submit(submission, gate)
        except GateShut:
            return  # nothing committed or sent
        except JournalWriteError:
            raise  # the gate's commit failed: the journal's trouble, not this document's
        except FaxdError as exc:
            failed = exc
        # The slot is free once the provider answered: recording the answer is faxd's work.
        if failed is not None:
            # Raised before the gate opened (a file that could not be read): nothing was
            # committed or sent, so the attempt does not count.
            counted = started is not None
            self._handle_error(job, started or tx, sender, failed, counted=counted)
            return
        assert started is not None  # the provider answered, so the gate was entered
        tx = started
        crash_point("after_accept_before_commit")
        self.outcomes.accepted(tx, accepted, provider, answered=True)
        bound.info(
            "accepted",
            remote_id=accepted.remote_id,
            method=accepted.method.value,
            state="submitted",
        )

    def _submitting(self, tx: TxRow, dft: bool, provider: str, bound: Any) -> TxRow | None:
        """Commit SUBMITTING for an upload about to leave (the caller holds its slot); the
        row as committed, or None when it must not leave after all."""
        if not self._accepting or provider in self.paused():
            return None  # nothing committed or sent: it stays queued
        now = self._clock.time()
        # Compare-and-set: `faxd cancel` may have failed it since it was read.
        if not self._journal.apply(
            tx.job_id,
            tx.idx,
            TxUpdate(
                state=TxState.SUBMITTING,
                attempts=tx.attempts + 1,
                first_attempt_at=tx.first_attempt_at or now,
                submit_started_at=now,
                method=Method.DFT if dft else Method.FAX,
                updated_at=now,
            ),
            expect=UPLOAD_STATES,
            first=True,  # a provider connection waits for this commit
        ):
            bound.info("no longer queued; not uploading", state="cancelled")
            return None
        crash_point("after_submitting_commit")
        started = replace(tx, attempts=tx.attempts + 1, first_attempt_at=tx.first_attempt_at or now)
        bound.info("uploading", attempt=started.attempts, state="submitting", dft=dft)
        return started

    def _decide_dft(self, sender: Sender, job: JobRow, tx: TxRow, capable: bool | None) -> bool:
        """capable: the recipient's cached answer, None when none is fresh."""
        if not should_check_dft(sender.supports_dft, job.dft):
            return False
        if sender.name in self._dft_check_refused:
            return False
        now = self._clock.time()
        if capable is None:
            try:
                with self._slots[sender.name]:  # a request like any other
                    capable = sender.check_dft(tx.number)
            except (RejectedError, AuthError) as exc:
                # Optional: a refused check decides nothing but the method.
                self._dft_check_failed(sender.name, tx, job, exc)
                return False
            except ProviderError as exc:
                if isinstance(exc, TransientError) and exc.throttled:
                    raise  # the provider is throttling us: the upload would be refused too
                # Nor does one that fails for now: the document goes as a fax rather than
                # wait (and fail after max_attempts) for a check it does not need. Nothing
                # is cached, so the next document to this number asks again.
                log.info(
                    "Direct File Transfer check failed for now; sending as fax",
                    job=job.id,
                    recipient=tx.number,
                    provider=sender.name,
                    error=str(exc),
                )
                return False
            self._journal.store_dft(sender.name, tx.number, capable, now)
        return use_dft(sender.supports_dft, job.dft, capable)

    def _dft_check_failed(
        self, provider: str, tx: TxRow, job: JobRow, exc: RejectedError | AuthError
    ) -> None:
        for_all = check_refused_for_every_number(exc.status_code)
        if for_all:
            self._dft_check_refused.add(provider)
        log.warning(
            "Direct File Transfer check refused; sending as fax",
            job=job.id,
            recipient=tx.number,
            provider=provider,
            error=exc.message,  # its hint is about documents; this one goes as a fax
            hint=(
                "faxd stops asking until it is reloaded (systemctl reload faxd)"
                if for_all
                else "only this transmission is affected"
            ),
        )

    def _policy(self, job: JobRow, provider: str) -> RetryPolicy:
        options = job.options
        settings = self._settings.providers.get(provider)
        return replace(
            self._retry,
            max_attempts=(
                self._retry.max_attempts if options.max_attempts is None else options.max_attempts
            ),
            give_up_after=(
                self._retry.give_up_after
                if options.give_up_after is None
                else options.give_up_after
            ),
            lookup_first=(
                settings.lookup_delay if settings is not None else self._retry.lookup_first
            ),
        )

    def _handle_error(
        self, job: JobRow, tx: TxRow, sender: Sender, exc: FaxdError, *, counted: bool
    ) -> None:
        """Where a failure leads is decided by `core.transitions.after_failure`; this only
        writes the step back, pauses the provider and says what happened."""
        now = self._clock.time()
        bound = log.bind(
            job=job.id, document=job.rel_path, recipient=tx.number, provider=sender.name
        )
        failure = classify(exc)
        # A counted failure met the upload in flight: the journal holds SUBMITTING.
        facts = TxFacts(
            TxState.SUBMITTING if counted else tx.state,
            tx.attempts,
            tx.first_attempt_at,
            tx.lookups,
        )
        retry_after = exc.retry_after if isinstance(exc, AskAgainError) else None
        step = after_failure(
            failure,
            facts,
            self._policy(job, sender.name),
            now,
            self._rand,
            error=str(exc),
            counted=counted,
            retry_after=retry_after,
            throttled=isinstance(exc, TransientError) and exc.throttled,
            reason=exc.message,
        )
        first_config_pause = False
        if step.pause_until is not None and step.pause_reason is not None:
            with self._wake:  # an RLock: two uploads failing at once still log once
                known = self._pauses.get(sender.name)
                self._pause(sender.name, step.pause_until, step.pause_reason)
            first_config_pause = known is None or known.reason != step.pause_reason
        self._say(bound, failure, exc, step, first_config_pause, tx, now)
        if step.gave_up:
            assert step.update.error is not None
            if step.update.attempts is not None:
                self._journal.apply(tx.job_id, tx.idx, TxUpdate(attempts=step.update.attempts))
            self.outcomes.fail(job, tx, step.update.error)
            return
        self.outcomes.step(job, tx, step.update, now, requeued=failure is Failure.TRANSIENT)

    def _say(
        self,
        bound: Any,
        failure: Failure,
        exc: FaxdError,
        step: Step,
        first_pause: bool,
        tx: TxRow,
        now: float,
    ) -> None:
        if failure is Failure.OUTCOME_UNKNOWN:
            bound.warning(
                "upload outcome unknown; asking the provider before any new upload", error=str(exc)
            )
        elif failure is Failure.AUTH:
            bound.error(
                "provider refused our credentials; its queue is paused",
                error=str(exc),
                hint="check the API key / password file, then reload faxd (systemctl reload faxd)",
            )
        elif failure is Failure.ENDPOINT and first_pause:
            # A wrong address fails every document alike: say so once (again only after a
            # reload); one document is tried every AUTH_PAUSE seconds.
            bound.error(
                "the provider's address looks wrong; its queue is paused",
                error=exc.message,
                hint=exc.hint,
            )
        elif failure is Failure.TRANSIENT and not step.gave_up:
            at = step.update.next_attempt_at or now
            bound.warning(
                "temporary failure; will retry", error=str(exc), retry_in=round(at - now, 1)
            )
            first = step.update.first_attempt_at or now
            warned = self.outcomes.delay_warned
            if now - first >= DELAY_WARNING and tx.key not in warned:
                warned.add(tx.key)
                bound.warning(
                    "still not sent after hours of retrying",
                    hours=round((now - first) / 3600, 1),
                )

    def _pause(self, provider: str, until: float, reason: str) -> None:
        with self._wake:
            current = self._pauses.get(provider)
            if current is None or current.until < until:
                self._pauses[provider] = Pause(until, reason)
        self._journal.pause_provider(provider, until, reason)

    def look_up_interrupted(self) -> int:
        """Uploads a faxd killed in flight left SUBMITTING, made OUTCOME_UNKNOWN and due now:
        they may have reached the provider, so they are looked up before anything is sent
        again. For the holder of the state_dir's lock, before its engine runs: any other
        faxd's SUBMITTING rows may be uploads under way."""
        count = self._journal.reset_interrupted(self._clock.time())
        if count:
            log.warning(
                "uploads interrupted by a stop; asking the provider before sending again",
                count=count,
            )
        return count

    def finish_if_done(self, job_id: str) -> None:
        """Give a job whose transmissions are all final its result, and file it."""
        self.outcomes.finish_if_done(job_id)

    def _start_sweeps(self) -> None:
        for name, sender in self._senders.items():
            if isinstance(sender, ReportSweeper) and name not in self.paused():
                try:
                    self._query_pool.submit(self.queries.sweep, name, sender, self._inflight)
                except RuntimeError:
                    return
