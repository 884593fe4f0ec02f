"""The daemon: wires adapters to decisions, runs the threads, answers signals.

Start-up order matters: lock, journal, reconcile what a crash left
behind, start the watchers, queue the folder scans, tell systemd READY — and only then
work through what the scans find, in the intake thread, however large the backlog."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from faxd import config
from faxd.clock import Clock, SystemClock
from faxd.crash_points import hanging
from faxd.errors import ConfigError, ConfigProblem
from faxd.host.folder_claims import FolderClaims, claim_configured, configured_folders
from faxd.host.inbox_folder import InboxFolder
from faxd.host.lock import InstanceLock
from faxd.host.sd_notify import Notifier, format_status
from faxd.notices.worker import OutboxWorker
from faxd.outbound.archive import Archiver
from faxd.outbound.engine import QUERY_WORKERS, Engine
from faxd.outbound.intake import Intake
from faxd.outbound.watcher import FolderWatcher
from faxd.providers.base import InboxSource
from faxd.providers.registry import build_senders, provider_type
from faxd.records.pool import DrawPool
from faxd.service.folder_setup import make_missing
from faxd.service.records_keeper import RecordsKeeper
from faxd.settings import FolderSettings, Settings
from faxd.store.journal import Journal, JournalWriteError, open_journal_file

log = structlog.get_logger("faxd.service.daemon")

JOURNAL_NAME = "journal.sqlite"
STOP_TIMEOUT = 30.0
STATUS_EVERY = 5.0
STALL_LIMIT = 60.0  # a thread silent this long is stuck: stop the watchdog pings
# One take copies at most 64 MB: this long means its share hangs (said, not restarted).
TAKE_STALL = 300.0
# A stop waits this long from its start for the takes under way: a take blocked on a hung
# share would otherwise hold the stop until systemd kills faxd (TimeoutStopSec=60).
TAKES_STOP_WAIT = 40.0
# A command channel's program under way has this long from the start of a stop to end;
# then it is killed and runs once at the next start (SIGKILL 2 s after SIGTERM).
OUTBOX_STOP_WAIT = 10.0
HANG_TEST_STALL = 2.0  # with a FAXD_HANG_AT test hook, stalls are said within seconds
FILING_RETRY = 60.0  # how often every finished but unfiled job is looked for
FILING_QUICK_RETRY = 5.0  # how often filing that failed (unwritable sent/ …) is tried again
FAULT_AFTER = 2.0  # FAXD_FAULT fires this long after READY, so tests see pings first
INTAKE_TAKERS = 4  # documents copied, checked and journaled side by side


def requests_at_once(settings: Settings) -> int:
    """How many requests one provider may have under way together: uploads and DFT checks
    (`concurrency`), status queries, and the inbox poller's downloads. Its connection pool
    keeps that many open; a smaller one closed every extra connection after its answer,
    with a warning in the log each time, as soon as an inbox poll met a burst."""
    if settings.inbox is None:
        return settings.concurrency + QUERY_WORKERS
    from faxd.inbound.poller import DEFAULT_WORKERS  # imported when used: see _start_poller

    return settings.concurrency + QUERY_WORKERS + DEFAULT_WORKERS


def open_journal(settings: Settings) -> Journal:
    return open_journal_file(settings.state_dir / JOURNAL_NAME)


@dataclass
class _Flags:
    stop: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)


class Daemon:
    def __init__(
        self,
        config_path: Path,
        environ: Mapping[str, str],
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._config_path = config_path
        self._environ = environ
        self._clock = clock or SystemClock()
        self._notifier = notifier or Notifier(environ)
        self._flags = _Flags()
        self._threads: dict[str, threading.Thread] = {}
        self._watchers: dict[Path, FolderWatcher] = {}
        self._claims: FolderClaims  # run() names this faxd in it, state_dir and all
        self._poller: Any = None
        self._inbox_status = ""
        self._poller_stop = threading.Event()
        self._ready_at: float | None = None
        self._unhealthy: str | None = None
        self._intake_stuck: str | None = None  # what keeps documents from being taken in
        self._stall_limits = (
            (HANG_TEST_STALL, HANG_TEST_STALL) if hanging() else (STALL_LIMIT, TAKE_STALL)
        )
        self._outages: set[Path] = set()  # folders whose watcher died because they vanished
        self._fault = environ.get("FAXD_FAULT", "")
        self._exit_code = 0
        self._unfiled: set[str] = set()  # finished jobs not filed at the last check
        self._filing_checked_at = 0.0
        self._filing_tried_at = 0.0

    # -- start-up ----------------------------------------------------------------------

    def _load(self) -> Settings:
        settings = config.load(self._config_path, self._environ)
        problems = config.check_environment(settings)
        if problems:
            raise ConfigError(str(self._config_path), problems)
        for warning in settings.warnings:
            log.warning("configuration", problem=warning)
        return settings

    def run(self) -> int:
        settings = self._load()
        self._settings = settings
        lock = InstanceLock(settings.state_dir)
        lock.acquire()
        self._claims = FolderClaims(
            f"pid {os.getpid()} on {socket.gethostname()}, state_dir {settings.state_dir}"
        )
        try:
            return self._run_locked(settings)
        finally:
            self._claims.release_all()
            lock.release()

    def _run_locked(self, settings: Settings) -> int:
        self._journal = open_journal(settings)
        self._draw_pool = DrawPool()
        self._records = RecordsKeeper(
            settings,
            self._journal,
            self._clock,
            self._draw_pool.make,
            # Report PDFs wait while documents are taken in or uploaded (records_keeper.py).
            fax_busy=lambda: self._engine.uploading() > 0 or self._intake.pending() > 0,
            activity_pdf=self._draw_pool.activity_pdf,
            count_pages=self._draw_pool.page_counts,
        )
        self._records.configuration_loaded(self._config_path)
        self._senders = build_senders(settings, requests_at_once(settings))
        self._archiver = Archiver(self._journal, self._clock, work_root=settings.work_root)
        # Before anything is reconciled or taken: another faxd working these folders would
        # send every document in them a second time.
        self._create_inbox(settings)
        problems = claim_configured(self._claims, settings, self._present)
        if problems:
            self._journal.close()
            raise ConfigError(str(self._config_path), problems)
        self._engine = Engine(
            settings,
            self._journal,
            self._senders,
            self._archiver,
            self._clock,
            on_archived=self._archived,
        )
        self._intake = Intake(
            settings,
            self._journal,
            self._senders,
            self._archiver,
            self._clock,
            self._engine.wake,
            takers=INTAKE_TAKERS,
        )
        self._install_signals()
        self._reconcile()
        # Audit events committed before a crash reach the log before anything new happens.
        self._start_thread("records", self._records.run)
        # Watch first, then scan: a file written in between is seen by one or the other
        # (twice is harmless, the intake tracks by path). The scans are only queued here:
        # the intake thread reads them after READY, so a backlog of any size can never
        # hold start-up past systemd's TimeoutStartSec, and the watcher's events wait in
        # the intake's queue meanwhile.
        self._sync_watchers(settings)
        for folder in settings.folders:
            if folder.path in self._watchers:
                self._intake.scan(folder.path)
        self._start_thread("engine", self._engine.run)
        # Notices, deliveries and alerts go out on their own threads, beside the fax path.
        self._outbox = OutboxWorker(
            settings,
            self._journal,
            self._clock,
            inbox_status=lambda: self._poller.status() if self._poller is not None else None,
        )
        self._start_thread("outbox", self._outbox.run)
        self._start_poller(settings)
        self._notifier.ready(self._status_text())
        self._ready_at = self._clock.monotonic()
        log.info(
            "faxd is running",
            folders=[str(f.path) for f in settings.folders],
            config=str(self._config_path),
        )
        self._start_thread("intake", self._intake.run)
        try:
            self._main_loop()
        finally:
            self._shutdown()
        return self._exit_code

    def _reconcile(self) -> None:
        """Finish what a crash interrupted before anything new starts."""
        now = self._clock.time()
        if self._journal.intake_stall() is not None:
            self._journal.set_intake_stall(None)  # said by a run that has ended
        unknown = self._journal.reset_interrupted(now)
        if unknown:
            log.warning(
                "uploads interrupted by a stop; asking the provider before sending again",
                count=unknown,
            )
        # A filing error (an unwritable sent/ subfolder, a spool folder that is away) never
        # stops the start: the job stays unfiled, is logged, and is tried again later.
        for job in self._journal.unarchived_final_jobs():
            if self._archiver.try_archive(job):
                self._intake.release(job.id)
        self._unfiled = {job.id for job in self._journal.unarchived_final_jobs()}
        swept = self._archiver.sweep_work()
        if swept:
            log.info("removed work folders no job owns (left by a stop)", count=swept)
        self._filing_checked_at = self._clock.monotonic()
        # A kill between a transmission's final status and its job's leaves a job whose
        # every transmission is final but which nothing would ever look at again.
        for job_id in self._journal.unfiled_ids_all_final():
            self._engine.finish_if_done(job_id)

    def _retry_filing(self) -> None:
        """File finished jobs whose filing failed. Only jobs already unfiled at the previous
        pass, FILING_RETRY seconds ago: a job that just finished is being filed by its own
        thread right now."""
        now = self._clock.monotonic()
        if now - self._filing_tried_at < FILING_QUICK_RETRY:
            return
        self._filing_tried_at = now
        # Known failures often (a share that is back should not wait a minute) …
        due = set(self._archiver.failing())
        if now - self._filing_checked_at >= FILING_RETRY:
            # … and every minute whatever else is finished but not filed.
            self._filing_checked_at = now
            unfiled = {job.id for job in self._journal.unarchived_final_jobs()}
            due |= unfiled & self._unfiled
            self._unfiled = unfiled
        for job_id in sorted(due):
            try:
                self._engine.finish_if_done(job_id)
            except Exception:  # a journal hiccup must not stop the main loop
                log.exception("could not retry filing", job=job_id)

    def _archived(self, job_id: str) -> None:
        self._intake.release(job_id)
        self._records.wake()  # the report PDF is drawn in the records thread

    def _start_thread(self, name: str, target: Callable[[threading.Event], None]) -> None:
        def body() -> None:
            try:
                target(self._flags.stop)
            except Exception:
                log.exception("thread died", thread=name)

        thread = threading.Thread(target=body, name=f"faxd-{name}", daemon=True)
        thread.start()
        self._threads[name] = thread

    def _start_poller(self, settings: Settings) -> None:
        inbox = settings.inbox
        if inbox is None:
            return
        source = self._senders.get(inbox.provider)
        if source is None or not isinstance(source, InboxSource):
            log.error("the inbox provider cannot list received documents", provider=inbox.provider)
            return
        from faxd.inbound.poller import InboxPoller

        provider = settings.providers[inbox.provider]
        timezone = ZoneInfo(provider_type(provider).local_zone(provider))
        journal = self._journal
        self._poller = InboxPoller(
            settings=inbox,
            source=source,
            journal=journal,
            our_numbers=settings.our_numbers(),
            outbound_ids=lambda: journal.remote_ids(inbox.provider),
            clock=self._clock,
            timezone=timezone,
        )
        self._poller_stop = threading.Event()
        poller = self._poller
        stop = self._poller_stop

        def body() -> None:
            try:
                poller.run(stop)
            except Exception:
                log.exception("inbox poller died")

        thread = threading.Thread(target=body, name="faxd-poller", daemon=True)
        thread.start()
        self._threads["poller"] = thread

    def _sync_watchers(self, settings: Settings) -> None:
        wanted = {f.path: f for f in settings.folders}
        for path in [p for p in self._watchers if p not in wanted]:
            self._watchers.pop(path).stop()
            log.info("folder released", folder=str(path))
        for path, folder in wanted.items():
            current = self._watchers.get(path)
            if current is not None and current.wanted == folder.watch:
                continue
            if current is not None:
                # `watch:` changed on reload: a share found unseen by inotify must be polled
                # from now on, not after the next restart. The reload scans every folder
                # afterwards, so what arrives in between is found.
                self._watchers.pop(path).stop()
            self._create_folders(folder)
            if self._present(path) and (refused := self._claims.claim(path)) is not None:
                log.error("folder not watched", folder=str(path), problem=refused)
                continue
            watcher = FolderWatcher(path, folder.watch, self._intake.changes)
            self._watchers[path] = watcher
            try:
                mode = watcher.start()
            except OSError:
                if path.is_dir():
                    raise
                # Gone since the configuration check (or a share faxd knew that is not
                # mounted): an outage, watched again by the health check once it is back.
                self._outages.add(path)
                log.warning(
                    "spool folder is not there; watching it once it is back", folder=str(path)
                )
                continue
            log.info("watching folder", folder=str(path), mode=mode)

    def _present(self, path: Path) -> bool:
        """A folder that is there, and not the bare mount point of a share away."""
        return path.is_dir() and not self._archiver.presence.away(path)

    def _create_inbox(self, settings: Settings) -> None:
        """Make a missing inbox now, not at the poller's first cycle: made there, after the
        folder claims, it went unclaimed, and a second faxd delivered every received
        document into it again."""
        if settings.inbox is None or settings.inbox.path.is_dir():
            return
        # One that cannot be made, or that must not be (a share that is not mounted), is
        # the poller's to say in words, and to try again.
        journal = self._journal
        with contextlib.suppress(OSError):
            InboxFolder(
                settings.inbox.path, may_make_root=lambda root: not journal.folder_seen(root)
            ).ensure()

    def _create_folders(self, folder: FolderSettings) -> None:
        """Create a spool folder (and its sent/ and failed/) that is missing but whose parent
        is there — unless faxd has used it before: then it is a share that is not mounted
        or a folder renamed away, an outage that must not get a fresh, empty folder."""
        self._archiver.presence.record(folder.path)
        # A shared sent/failed/hold root first: this folder files into a subfolder of it.
        paths = (*folder.filing_roots, folder.path, folder.sent_dir, folder.failed_dir)
        try:
            made = make_missing(self._journal, paths)
        except OSError as exc:
            # Checked at start (check_environment); this is a change since, or root's
            # view of a share: a sentence and exit 2, never an internal error.
            raise ConfigError(
                str(self._config_path),
                [ConfigProblem("folders", f"{exc.filename} cannot be created ({exc.strerror}).")],
            ) from None
        for path in made:
            log.info("created a missing folder named in the configuration", folder=str(path))

    # -- running -----------------------------------------------------------------------

    def _install_signals(self) -> None:
        def on_term(_sig: int, _frame: FrameType | None) -> None:
            self._flags.stop.set()

        def on_hup(_sig: int, _frame: FrameType | None) -> None:
            self._flags.reload.set()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_term)
            signal.signal(signal.SIGINT, on_term)
            signal.signal(signal.SIGHUP, on_hup)
            # Past a file-size limit (ulimit -f) a write should fail with EFBIG, which the
            # inbox handles as a full disk, instead of killing the daemon.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def request_stop(self) -> None:
        self._flags.stop.set()

    def _main_loop(self) -> None:
        interval = self._notifier.watchdog_interval or 1.0
        tick = min(0.5, interval)
        last_status = 0.0
        while not self._flags.stop.wait(tick):
            if self._flags.reload.is_set():
                self._flags.reload.clear()
                self._reload()
            self._inject_fault()
            problem = self._health_problem()
            if problem is None:
                self._notifier.watchdog()
            elif self._unhealthy is None:
                self._unhealthy = problem
                self._report_unhealthy(problem)
                if self._notifier.watchdog_interval is None:
                    # No watchdog will restart us: exit non-zero so a supervisor
                    # (Restart=on-failure) does; the journal and the start-up scan make
                    # the restart lossless.
                    self._exit_code = 1
                    return
            self._watch_intake()
            self._retry_filing()
            now = self._clock.monotonic()
            if now - last_status >= STATUS_EVERY:
                last_status = now
                self._notifier.status(self._status_text())
                self._publish_inbox_status()

    def _publish_inbox_status(self) -> None:
        """`faxd status` runs in another process: leave the poller's state in the journal."""
        if self._poller is None:
            return
        status = self._poller.status()
        text = status.dumps()
        if text != self._inbox_status:
            try:
                self._journal.set_inbox_status(status)
            except JournalWriteError:
                return  # said once by the journal; published again when it takes writes
            self._inbox_status = text

    def _watch_intake(self) -> None:
        """Said, not restarted: a share that hangs would hang a restarted faxd the same way,
        and everything else (uploads, status queries, the inbox) still works."""
        problem = self._intake.progress.stalled(*self._stall_limits)
        began = self._intake_stuck is None and problem is not None
        ended = self._intake_stuck is not None and problem is None
        was, self._intake_stuck = self._intake_stuck, problem  # its seconds grow in STATUS
        if not (began or ended):
            return
        if began:
            log.error(
                "documents are not being taken in; uploads, status queries and the inbox go on",
                problem=problem,
                hint="a spool folder's share may hang: check its mount and its server",
            )
        else:
            log.warning("documents are taken in again", was=was)
        when = datetime.fromtimestamp(self._clock.time()).astimezone()
        with contextlib.suppress(JournalWriteError):  # said once by the journal
            self._journal.set_intake_stall(
                f"since {when:%Y-%m-%d %H:%M}: {problem}" if began else None
            )
        self._notifier.status(self._status_text())

    def _report_unhealthy(self, problem: str) -> None:
        log.error(
            "faxd is not healthy and stops its watchdog pings, so systemd restarts it",
            problem=problem,
        )
        self._notifier.status(self._status_text())

    def _health_problem(self) -> str | None:
        """What makes faxd useless while it still runs: a dead or stuck thread or watcher.

        A crash is not repaired in place: systemd's watchdog restarts the whole process,
        whose start-up reconciliation and scan pick up whatever was missed meanwhile. A
        watcher whose folder vanished (a share unmounted) is an outage, not a crash: it is
        restarted, and the folder scanned, once the folder is back."""
        for name, thread in self._threads.items():
            if not thread.is_alive():
                return f"the {name} thread is not running"
        for path, watcher in self._watchers.items():
            if watcher.alive():
                continue
            if self._archiver.presence.away(path):
                if path not in self._outages:
                    self._outages.add(path)
                    log.warning(
                        "spool folder vanished and its watcher with it; "
                        "watching it again once it is back",
                        folder=str(path),
                    )
                continue
            if path not in self._outages:
                return f"the watcher of {path} is not running"
            # Back, perhaps as another mount of the share: claimed again before anything
            # is taken from it. Another faxd that took it meanwhile keeps it; this one
            # stops (and, restarted by systemd, exits 2 naming that faxd).
            self._claims.release(path)
            refused = self._claims.claim(path)
            if refused is not None:
                return refused
            self._outages.discard(path)
            try:
                watcher.stop()
                watcher.start()
            except OSError as exc:
                return f"the watcher of {path} cannot be restarted ({exc.strerror})"
            log.info("spool folder is back; watching it again", folder=str(path))
            self._intake.scan(path)
        silent = self._clock.monotonic() - self._engine.heartbeat
        if silent >= STALL_LIMIT:
            return f"the engine has not made progress for {silent:.0f} s"
        return None

    def _inject_fault(self) -> None:
        """Test hook (FAXD_FAULT=kill_watcher): the watchers die behind the daemon's back,
        as when an observer thread crashes, to prove the health check notices."""
        if self._fault != "kill_watcher" or self._ready_at is None:
            return
        if self._clock.monotonic() - self._ready_at < FAULT_AFTER:
            return
        self._fault = ""
        log.warning("FAXD_FAULT: stopping every folder watcher")
        for watcher in self._watchers.values():
            watcher.stop()

    def _status_text(self) -> str:
        counts = self._journal.queue_counts()
        queued = counts.queued + self._intake.pending()
        local = datetime.fromtimestamp(self._clock.time()).astimezone()
        start = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        failed_today = self._journal.failed_since(start)
        paused = [f"{name} ({p.reason})" for name, p in self._engine.paused().items()]
        text = format_status(queued, counts.in_flight, failed_today, paused)
        if self._intake_stuck is not None:
            text = f"not taking documents in: {self._intake_stuck}; {text}"
        if self._unhealthy is not None:
            # Kept at the front of every later STATUS=, so `systemctl status` shows it.
            text = f"not healthy: {self._unhealthy}; waiting to be restarted; {text}"
        return text

    def _refuse_reload(self, problems: list[ConfigProblem]) -> None:
        for problem in problems:
            log.error("new configuration refused; the old one stays", problem=str(problem))
        self._notifier.ready(self._status_text())

    def _state_dir_moved(self, settings: Settings) -> ConfigProblem | None:
        """A new state_dir cannot be taken on while running: the journal and its lock stay
        open in the old one. Taken half (work folders, provider state and records moved,
        the journal not), documents' copies were left behind in the new one and the
        commands looked for a journal where there was none."""
        old = self._settings.state_dir
        if settings.state_dir == old:
            return None
        return ConfigProblem(
            "state_dir",
            f"changed from {old} to {settings.state_dir}, which takes a restart "
            "(systemctl restart faxd): a running faxd keeps its journal where it opened it.",
        )

    def _reload(self) -> None:
        self._notifier.reloading()
        try:
            settings = self._load()
        except ConfigError as exc:
            self._refuse_reload(exc.problems)
            return
        if (moved := self._state_dir_moved(settings)) is not None:
            self._refuse_reload([moved])
            return
        before = self._claims.held()
        self._create_inbox(settings)
        problems = claim_configured(self._claims, settings, self._present)
        if problems:
            for claimed in self._claims.held() - before:
                self._claims.release(claimed)
            self._refuse_reload(problems)
            return
        senders = build_senders(settings, requests_at_once(settings))
        self._senders.update(senders)
        self._intake.configure(settings)
        self._outbox.configure(settings)
        self._engine.reconfigure(settings, senders)
        self._sync_watchers(settings)
        for folder in settings.folders:
            if folder.path in self._watchers:
                self._intake.scan(folder.path)
        configured = {path for _, path in configured_folders(settings)}
        for unused in self._claims.held() - configured:
            self._claims.release(unused)
        if self._poller is not None:
            self._poller_stop.set()
            self._threads.pop("poller").join(timeout=10)
            self._poller = None
        self._start_poller(settings)
        self._settings = settings
        self._records.configure(settings)
        self._records.configuration_loaded(self._config_path)
        log.info("configuration reloaded", folders=[str(f.path) for f in settings.folders])
        self._notifier.ready(self._status_text())

    def _shutdown(self) -> None:
        began = self._clock.monotonic()
        self._flags.stop.set()  # also when the main loop ended by an exception
        self._notifier.stopping()
        log.info("stopping: no new uploads; waiting for those in flight")
        for watcher in self._watchers.values():
            watcher.stop()
        self._poller_stop.set()
        self._engine.shutdown(STOP_TIMEOUT)
        self._outbox.shutdown(max(0.0, began + OUTBOX_STOP_WAIT - self._clock.monotonic()))
        # Before the joins: the records thread may be waiting on a drawing at the lowest CPU
        # priority, which on a loaded machine outlasts any join timeout; the journal would
        # then close under its last audit-log write. An unfinished report is drawn at the
        # next start.
        self._draw_pool.close(kill=True)
        for name, thread in self._threads.items():
            thread.join(timeout=30 if name == "records" else 5)
            if thread.is_alive():
                log.warning(
                    "a thread did not stop in time; its work is finished at the next start",
                    thread=name,
                )
        for sender in self._senders.values():
            sender.close()
        # Takes under way end in a job or in nothing before the journal closes (a large
        # print file's conversion outlasts the join above). One that still has not ended
        # is blocked in a read no thread can cut short; the process ends without it, as a
        # crash would, and the next start takes its document.
        budget = HANG_TEST_STALL if hanging() else TAKES_STOP_WAIT
        left = self._intake.close(wait=max(0.0, began + budget - self._clock.monotonic()))
        if left:
            log.error(
                "stopping while documents are still being taken in (a share that hangs, "
                "or a long conversion); the next start takes them",
                documents=[str(p) for p in left],
            )
        self._journal.close()
        log.info("stopped")
