"""The daemon: wires adapters to decisions, runs the threads, answers signals.

Start-up order matters: lock, journal, reconcile what a crash left
behind, start the watchers, queue the folder scans, tell systemd READY — and only then
work through what the scans find, in the intake thread, however large the backlog.

This module holds the start-up, the signals and the main loop; the parts are mixed into
Daemon: daemon_folders (folders watched, claimed and created), daemon_filing (what a
crash left unfinished, filing tried again), daemon_supervision (the threads, their health
and the status text), daemon_reload and daemon_stop."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from faxd import config
from faxd.clock import Clock, SystemClock
from faxd.crash_points import hanging
from faxd.errors import ConfigError
from faxd.host import logs
from faxd.host.folder_claims import FolderClaims, claim_configured
from faxd.host.lock import InstanceLock
from faxd.host.sd_notify import Notifier
from faxd.notices.worker import OutboxWorker
from faxd.outbound.archive import Archiver
from faxd.outbound.engine import Engine
from faxd.outbound.intake import Intake
from faxd.outbound.watcher import FolderWatcher
from faxd.providers.registry import build_senders
from faxd.records.pool import DrawPool
from faxd.service.daemon_filing import DaemonFiling
from faxd.service.daemon_folders import DaemonFolders
from faxd.service.daemon_part import Flags
from faxd.service.daemon_reload import DaemonReload
from faxd.service.daemon_stop import DaemonStop
from faxd.service.daemon_supervision import (
    HANG_TEST_STALL,
    STALL_LIMIT,
    TAKE_STALL,
    DaemonSupervision,
    requests_at_once,
)
from faxd.service.records_keeper import RecordsKeeper
from faxd.settings import Settings
from faxd.store.journal import Journal, open_journal_file

log = structlog.get_logger("faxd.service.daemon")

JOURNAL_NAME = "journal.sqlite"
STATUS_EVERY = 5.0
INTAKE_TAKERS = 4  # documents copied, checked and journaled side by side


def open_journal(settings: Settings) -> Journal:
    return open_journal_file(settings.state_dir / JOURNAL_NAME)


class Daemon(DaemonFolders, DaemonFiling, DaemonSupervision, DaemonReload, DaemonStop):
    def __init__(
        self,
        config_path: Path,
        environ: Mapping[str, str],
        *,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        log_level: str | None = None,
    ) -> None:
        self._config_path = config_path
        self._log_level = log_level  # --debug: above the configuration's log_level
        self._environ = environ
        self._clock = clock or SystemClock()
        self._notifier = notifier or Notifier(environ)
        self._flags = Flags()
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

    def _take_log_level(self, settings: Settings) -> None:
        logs.set_level(self._log_level or settings.log_level)

    def run(self) -> int:
        settings = self._load()
        self._take_log_level(settings)
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
        self._archiver = Archiver.of(settings, self._journal, self._clock)
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
            # A folder that is away is scanned once it is back (_health_problem).
            if folder.path in self._watchers and folder.path not in self._outages:
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
