"""Taking a due document: handed to a taker thread (or taken on the intake thread), its
facts gathered with copies in the job's work folder (faxd.outbound.gathering), decided
(faxd.core.intake_decision) and the job created in the journal; a take that ends without a
job comes back to the intake thread to be looked at again (mixed into
faxd.outbound.intake.Intake)."""

from __future__ import annotations

import functools
import queue
import shutil
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import structlog

from faxd.core.intake_decision import Decision, IntakeFacts, decide
from faxd.core.job_payload import NewJob
from faxd.core.readiness import Track
from faxd.crash_points import crash_point, hang_point
from faxd.host import contained
from faxd.notices.plan import job_notices
from faxd.outbound import gathering
from faxd.outbound.intake_part import IntakePart
from faxd.outbound.watcher import Change
from faxd.settings import FolderSettings
from faxd.store.journal import JournalWriteError
from faxd.store.outbox import NewDelivery

log = structlog.get_logger("faxd.outbound.intake")

JOURNAL_RETRY = 10.0  # seconds before a document is taken again after a journal write failed
RETAKE_AFTER_ERROR = 30.0  # seconds until a document that tripped an error is looked at again


@dataclass(frozen=True)
class Retake:
    """A take that did not end in a job: look at the file again at `when`."""

    path: Path
    track: Track
    when: float


def new_job_id(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


class IntakeTake(IntakePart):
    """Takes (mixed into faxd.outbound.intake.Intake)."""

    # -- handing over ------------------------------------------------------------------

    def _dispatch(self, folder: FolderSettings, path: Path, track: Track) -> None:
        """Hand a due document to a taker (or take it here). The outcome comes back to this
        thread, which alone keeps the tracks."""
        try:
            owner = self._attachment_owner(path)
        except Exception:  # a bug must cost one document a retry, never the intake thread
            log.exception("could not take the document; it will be tried again", document=str(path))
            self._apply(Retake(path, track, self._clock.time() + RETAKE_AFTER_ERROR))
            return
        if owner is not None and owner.exists():
            log.debug("attachment of another document; not sent on its own", document=str(path))
            if owner in self._tracks:
                # Its document waited for this file, maybe for longer than the kernel's
                # answer about its writers now says was needed (faxd.core.readiness.ask_at).
                self._push(owner, self._clock.time())
            return
        if not self._claims.reserve(str(path)):
            try:
                self._claimed_due(folder, path, track)
            except Exception:  # it stays where it is, and is taken once the name is free
                log.exception("could not look at a new version of a document", document=str(path))
            return
        if self._pool is None:
            self._apply(self._take_guarded(folder, path, track))
            return
        self._in_flight += 1
        future = self._pool.submit(self._take_guarded, folder, path, track)
        with self._takes_lock:
            self._takes[future] = path
        future.add_done_callback(functools.partial(self._taken, path, track))

    def _taken(self, path: Path, track: Track, future: Future[Retake | None]) -> None:
        # On the taker's thread: an outcome always goes back (else its place among the
        # takes is never freed), and the intake loop wakes for it. Even a take whose
        # failure could not be reported (a closed log pipe) is tried again.
        with self._takes_lock:
            self._takes.pop(future, None)
        outcome: Retake | None = None
        if not future.cancelled():
            failed = future.exception()
            outcome = (
                future.result()
                if failed is None
                else Retake(path, track, self._clock.time() + RETAKE_AFTER_ERROR)
            )
        self._outcomes.put(outcome)
        self.changes.put(Change(Path(), Path(), "wake"))

    def _collect_outcomes(self) -> None:
        while True:
            try:
                outcome = self._outcomes.get_nowait()
            except queue.Empty:
                return
            self._in_flight -= 1
            self._apply(outcome)

    def _apply(self, outcome: Retake | None) -> None:
        if outcome is not None:
            track = outcome.track
            if self._still_open(outcome.path):
                track = replace(track, unclosed=True)
            self._tracks[outcome.path] = track
            self._push(outcome.path, outcome.when)

    # -- taking ------------------------------------------------------------------------

    def _take_guarded(self, folder: FolderSettings, path: Path, track: Track) -> Retake | None:
        """_take; a document that cannot be taken yet comes back to be looked at again, and
        an unforeseen error costs that document a retry, never the daemon."""
        self.progress.take_started(path)
        try:
            return self._take_or_retake(folder, path, track)
        finally:
            self.progress.take_ended(path)

    def _take_or_retake(self, folder: FolderSettings, path: Path, track: Track) -> Retake | None:
        now = self._clock.time()
        try:
            hang_point("take", path.name)
            self._take(folder, path, track)
        except contained.ChangedError:
            # Written to while faxd copied it: it had not settled after all.
            return Retake(path, Track(track.snap, now, track.first_seen), now + folder.settle)
        except contained.WorkFolderError as exc:
            log.warning("document not taken yet; trying again", document=str(path), error=str(exc))
            return Retake(path, track, now + RETAKE_AFTER_ERROR)
        except JournalWriteError:
            # Said once by the journal (a full state disk); taken when it takes writes.
            return Retake(path, track, now + JOURNAL_RETRY)
        except Exception:  # a bug must cost one document a retry, never the daemon
            log.exception("could not take the document; it will be tried again", document=str(path))
            return Retake(path, track, now + RETAKE_AFTER_ERROR)
        return None

    def _take(self, folder: FolderSettings, path: Path, track: Track) -> None:
        """Take a document _dispatch reserved: gather, decide, journal. Its reservation (and
        its attachments') ends here, as held files when a job was journaled."""
        job_id = new_job_id(self._clock.time())
        reserved = [str(path)]
        try:
            facts = self.gather(folder, path, track.first_seen, job_id)
            reserved += [a for a in facts.attachments if a not in facts.claimed]
            job = self._decide(facts, folder).final
            event = ("held" if job.hold else "failed") if job.error else None
            now = self._clock.time()
            notices = job_notices(job.id, job.options.notice, event, now) if event else []
            crash_point("intake_before_journal")
            self._create(job, notices)
        except BaseException:
            self._claims.settle(reserved)
            # The work folder of a job that was never recorded belongs to nobody.
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
            raise
        self._claims.settle(
            reserved, {job.path, *([job.sidecar] if job.sidecar else []), *job.attachments}
        )
        bound = log.bind(job=job.id, document=job.rel_path, provider=job.provider)
        if job.error:
            what = "document held" if job.hold else "document refused before sending"
            bound.warning(what, error=job.error)
            stored = self._journal.job(job.id)
            if stored is not None and not self._archiver.try_archive(stored):
                return  # kept held, so not taken again; the daemon tries filing it later
            self.release(job.id)
        else:
            bound.info("document queued", recipients=list(job.numbers), rule=job.rule)
            self._on_job()

    def _create(self, job: NewJob, notices: list[NewDelivery]) -> None:
        try:
            self._journal.create_job(job, outbox=notices)
        except JournalWriteError:
            # The fsync after the commit failed, not the commit: the job stands, and the
            # engine will work on it. Taking the document again would make a second job
            # of it, sent twice; it keeps its files and copies like any other job.
            if self._journal.job(job.id) is None:
                raise

    def job_dir(self, job_id: str) -> Path:
        """The job's one work folder under state_dir: its copies of the spool files, a
        converted print file, and the provider's conversions. Removed once it is filed."""
        return self._settings.work_root / job_id

    def snapshot_dir(self, job_id: str) -> Path:
        """Where a job's copies of its spool files live until it is filed."""
        return self.job_dir(job_id) / "snap"

    def decide(
        self,
        folder: FolderSettings,
        path: Path,
        first_seen: float,
        job_id: str,
        *,
        guard: bool = True,
    ) -> Decision:
        """Gather the facts of a ready document, then decide (faxd.core.intake_decision).
        ChangedError: the document is being written to, it has not settled."""
        return self._decide(self.gather(folder, path, first_seen, job_id), folder, guard=guard)

    def _decide(
        self, facts: IntakeFacts, folder: FolderSettings, *, guard: bool = True
    ) -> Decision:
        # A copy first (one step under the GIL): a reload adds providers to the daemon's
        # mapping while takers decide, and a dict that grows under a loop stops it.
        limits = {name: sender.limits for name, sender in dict(self._senders).items()}
        return decide(
            facts,
            folder,
            self._settings,
            limits,
            self._book,
            self._journal.known_among,
            guard=guard,
        )

    def gather(
        self, folder: FolderSettings, path: Path, first_seen: float, job_id: str
    ) -> IntakeFacts:
        """The document's facts (faxd.outbound.gathering), its copies in the job's folder."""
        return gathering.gather(
            folder,
            path,
            job_id=job_id,
            work=self.job_dir(job_id),
            received_at=min(self._clock.time(), first_seen),
            claims=self._claims,
        )
