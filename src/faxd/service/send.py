"""`faxd send`: documents given on the command line sent to the numbers typed, through
the state_dir's outbox; sent by this process when no daemon runs (this one job: the
journal's others wait for the daemon), else queued for the daemon, and followed until
accepted (or, with --wait, until filed). Like the other one-shot commands it returns an
exit code and prints what an admin needs; errors are raised as FaxdError for `cli.main`
to word."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from faxd.clock import SystemClock
from faxd.config.sidecar import MAX_ATTACHMENTS
from faxd.core.addressing import parse_number, parse_recipients
from faxd.core.job_payload import NewJob
from faxd.core.printable import shown
from faxd.crash_points import crash_point
from faxd.errors import (
    AddressError,
    AlreadyRunningError,
    FaxdError,
    HeldByCommandError,
    UsageError,
)
from faxd.host.job_folders_lock import making_in
from faxd.host.lock import InstanceLock, running_pid
from faxd.model import JobState, TxState
from faxd.outbound.archive import Archiver
from faxd.outbound.engine import Engine
from faxd.outbound.intake import Intake
from faxd.outbound.intake_take import new_job_id
from faxd.providers.registry import build_senders
from faxd.service import send_outbox
from faxd.service.daemon import open_journal
from faxd.service.folder_setup import make_missing
from faxd.service.records_keeper import RecordsKeeper
from faxd.settings import FolderSettings, Settings
from faxd.store.journal import Journal
from faxd.store.rows import is_text


def send(
    settings: Settings,
    *,
    files: Sequence[Path],
    to: Sequence[str],
    sender: str | None,
    dft: bool,
    provider: str | None,
    reference: str | None,
    wait: bool,
) -> int:
    template = _template_folder(settings)
    if provider is not None and provider not in settings.providers:
        # A bad argument like a bad number: refused before any job exists.
        known = ", ".join(sorted(settings.providers)) or "none"
        raise UsageError(
            f"send: --provider '{shown(provider)}' is not a configured provider"
            f" (configured: {known})."
        )
    try:
        numbers = parse_recipients(list(to), template.region, settings.contacts)
        from_number = parse_number(sender, template.region, settings.contacts) if sender else None
    except AddressError as exc:
        raise UsageError(f"send: {exc}") from None
    if reference is not None and not is_text(reference):
        raise UsageError("send: --reference holds bytes that are not UTF-8 text.")
    if len(files) > MAX_ATTACHMENTS + 1:
        # The sidecar faxd writes for them would be refused, naming a file nobody wrote.
        raise UsageError(
            f"send: {len(files)} files given; at most {MAX_ATTACHMENTS + 1} go in one transmission."
        )
    for file in files:
        if not file.is_file():
            raise UsageError(f"{file} is not a readable file.")
    job_id = new_job_id(time.time())
    folder = replace(
        template,
        path=settings.outbox_root / job_id,
        to=numbers,
        provider=provider or settings.default_provider,
        sender=from_number or template.sender,
        dft="prefer" if dft else "never",
        sidecar_wait=0.0,
    )
    journal: Journal | None = None
    try:
        # Until its job is journaled, its outbox and work folders are no job's: a daemon
        # starting meanwhile must not sweep them away, and a failure removes them here
        # (nothing was sent; the files given stay where they are).
        with making_in(settings.outbox_root), making_in(settings.work_root):
            try:
                document = send_outbox.fill(settings, job_id, files, numbers)
                journal = open_journal(settings)
                _make_filing_folders(journal, template)
                job, archiver, engine = _take_in(
                    settings, journal, folder, document, job_id, reference
                )
            except BaseException:
                send_outbox.discard_unjournaled(settings, job_id, journal)
                raise
        return _send_now(settings, journal, job, archiver, engine, wait)
    finally:
        if journal is not None:
            journal.close()


def _make_filing_folders(journal: Journal, template: FolderSettings) -> None:
    # Before the daemon ever ran, its sent/ and failed/ may not be there yet.
    try:
        make_missing(journal, (*template.filing_roots, template.sent_dir, template.failed_dir))
    except OSError as exc:
        raise FaxdError(
            f"{exc.filename} cannot be created ({exc.strerror}), so the document could "
            "not be filed.",
            "Create the folder or fix its permissions, then send again.",
        ) from None


def _template_folder(settings: Settings) -> FolderSettings:
    if settings.folders:
        return settings.folders[0]
    raise UsageError(
        "faxd send needs at least one folder in the configuration.",
        "Its sent_dir and failed_dir are where sent documents are filed.",
    )


def _take_in(
    settings: Settings,
    journal: Journal,
    folder: FolderSettings,
    document: Path,
    job_id: str,
    reference: str | None,
) -> tuple[NewJob, Archiver, Engine]:
    """The daemon's decision on the outbox's document, journaled as the job; with the
    filing and the engine the command works the job with."""
    clock = SystemClock()
    senders = build_senders(settings)
    archiver = Archiver.of(settings, journal, clock)
    # Sending by itself, the command works its own job only: the journal's other jobs came
    # from spool folders it holds no claim on, which another faxd may work now.
    engine = Engine(settings, journal, senders, archiver, clock, only_job=job_id)
    intake = Intake(
        replace(settings, folders=(folder,)), journal, senders, archiver, clock, engine.wake
    )
    # The daemon's decision, without the misdial guard: the number typed is the
    # confirmation.
    decision = intake.decide(folder, document, document.stat().st_mtime, job_id, guard=False)
    job = replace(decision.final, reference=reference)
    crash_point("send_before_journal")
    journal.create_job(job)
    return job, archiver, engine


def _send_now(
    settings: Settings,
    journal: Journal,
    job: NewJob,
    archiver: Archiver,
    engine: Engine,
    wait: bool,
) -> int:
    job_id = job.id
    stored = journal.job(job_id)
    assert stored is not None
    if job.error:
        archiver.archive(stored)
        print(f"faxd: {job.error}", file=sys.stderr)
        return 1
    lock = InstanceLock(settings.state_dir, command="send")
    try:
        _take_turn(lock, job_id)
    except KeyboardInterrupt:
        _interrupted(journal, job_id)
        return 1
    except AlreadyRunningError:
        print(f"job {job_id} queued; the running faxd sends it.")
        try:
            return _follow(journal, job_id, wait, settings.state_dir)
        except KeyboardInterrupt:
            _interrupted(journal, job_id)
            return 1
        except _DaemonStopped:
            # Not sent here: taking the daemon's lock would make a restarting faxd find it
            # held and end (exit 2, which systemd does not restart).
            _interrupted(journal, job_id, "the running faxd stopped")
            return 1
    stop = threading.Event()
    runner = threading.Thread(target=engine.run, args=(stop,), daemon=True)
    runner.start()
    try:
        return _follow(journal, job_id, wait, unfiled=lambda: job_id in archiver.failing())
    except KeyboardInterrupt:
        _interrupted(journal, job_id)
        return 1
    finally:
        stop.set()
        engine.shutdown(10.0)
        # No daemon runs (we hold its lock): the report PDF and audit lines are ours to make.
        _keep_records(RecordsKeeper(settings, journal, SystemClock()))
        lock.release()


def _take_turn(lock: InstanceLock, job_id: str) -> None:
    """Take the state_dir's lock to send by itself. Another `faxd send` sending by itself
    works only its own job, so this one waits for it to end, then sends its own.
    AlreadyRunningError: a daemon holds the lock, and sends the job."""
    said = False
    while True:
        try:
            lock.acquire()
            return
        except HeldByCommandError as exc:
            if not said:
                doing = (
                    "another faxd send is sending its own now"
                    if exc.command == "send"
                    else f"faxd {exc.command} is using the state directory now"
                )
                print(f"job {job_id} queued; {doing}, and this command sends it once that is done.")
                said = True
            time.sleep(0.5)


def _interrupted(journal: Journal, job_id: str, why: str = "interrupted") -> None:
    """Ctrl-C or SIGTERM while `faxd send` waits, or the daemon it waited for stopped: say
    what becomes of the job."""
    txs = journal.transmissions(job_id)
    left = [t for t in txs if t.state not in (TxState.READY, TxState.WAITING)]
    if not left:
        print(
            f"{why}: job {job_id} is still queued, and faxd sends it (the running "
            f"daemon, or the next one to start). To stop it: faxd cancel {job_id}",
            file=sys.stderr,
        )
    else:
        print(
            f"{why}: job {job_id} may already have reached the provider; faxd "
            "follows it to its final status and files it. See 'faxd status'.",
            file=sys.stderr,
        )


class _DaemonStopped(Exception):
    """The daemon `faxd send` left its job to stopped before the job was accepted."""


def _keep_records(keeper: RecordsKeeper) -> None:
    try:
        keeper.draw_pending()
        keeper.drain_audit()
    except Exception as exc:  # the daemon makes them at its next start
        print(f"faxd: records not written yet ({exc}).", file=sys.stderr)


def _follow(
    journal: Journal,
    job_id: str,
    wait: bool,
    daemon_of: Path | None = None,
    unfiled: Callable[[], bool] | None = None,
) -> int:
    """Print the job's progress until it is accepted (or filed, with `wait`). `daemon_of`:
    the state_dir of the daemon the job was left to; _DaemonStopped once none runs there,
    or the command would wait for ever for a job nobody sends. `unfiled`: whether this
    command's own filing of the job failed; only a daemon tries a filing again, so the
    command ends there rather than wait for ever."""
    last = ""
    while True:
        job = journal.job(job_id)
        txs = journal.transmissions(job_id)
        assert job is not None
        line = ", ".join(f"{t.number}: {t.status or t.state.value}" for t in txs)
        if line != last:
            print(f"{job_id}: {line}")
            last = line
        if job.archived_at is not None:
            print(f"filed: {job.archived_path}")
            return 0 if job.state == JobState.DELIVERED else 1
        if job.state in (JobState.DELIVERED, JobState.FAILED) and unfiled and unfiled():
            print(
                f"{job.state.value}, but not filed: faxd could not file it (the log above "
                "says why); the next faxd to start files it once that is mended."
            )
            return 0 if job.state == JobState.DELIVERED else 1
        if not wait and all(
            t.state
            not in (TxState.READY, TxState.WAITING, TxState.SUBMITTING, TxState.OUTCOME_UNKNOWN)
            for t in txs
        ):
            print("accepted; run with --wait to follow it to its final status.")
            return 0
        if daemon_of is not None and running_pid(daemon_of) is None:
            raise _DaemonStopped
        time.sleep(0.5)
