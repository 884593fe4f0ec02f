"""The daemon's threads: started, watched (a dead or stuck thread or watcher stops the
watchdog pings; a stalled intake is said), the inbox poller's status published, and the
STATUS= text systemd shows."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from faxd.host.sd_notify import format_status
from faxd.outbound.engine import QUERY_WORKERS
from faxd.providers.base import InboxSource
from faxd.providers.registry import provider_type
from faxd.service.daemon_part import DaemonPart
from faxd.settings import Settings
from faxd.store.journal import JournalWriteError

log = structlog.get_logger("faxd.service.daemon")

STALL_LIMIT = 60.0  # a thread silent this long is stuck: stop the watchdog pings
# One take copies at most 64 MB: this long means its share hangs (said, not restarted).
TAKE_STALL = 300.0
HANG_TEST_STALL = 2.0  # with a FAXD_HANG_AT test hook, stalls are said within seconds
FAULT_AFTER = 2.0  # FAXD_FAULT fires this long after READY, so tests see pings first


def requests_at_once(settings: Settings) -> int:
    """How many requests one provider may have under way together: uploads and DFT checks
    (`concurrency`), status queries, and the inbox poller's downloads. Its connection pool
    keeps that many open; a smaller one closed every extra connection after its answer,
    with a warning in the log each time, as soon as an inbox poll met a burst."""
    if settings.inbox is None:
        return settings.concurrency + QUERY_WORKERS
    from faxd.inbound.poller import DEFAULT_WORKERS  # imported when used: see _start_poller

    return settings.concurrency + QUERY_WORKERS + DEFAULT_WORKERS


class DaemonSupervision(DaemonPart):
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
            claims=self._claims,
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
        restarted, and the folder scanned, once the folder is back. So is the watcher of a
        folder found on another mounted file system (the share back under another device
        number): asked of the spool presence, which the intake and the filing keep up to
        date, since a look at the disk here at every turn would hang with a hung share."""
        for name, thread in self._threads.items():
            if not thread.is_alive():
                return f"the {name} thread is not running"
        presence = self._archiver.presence
        for path, watcher in self._watchers.items():
            remounted = presence.remounted(path)
            if watcher.alive() and not remounted:
                continue
            if presence.away(path):
                if path not in self._outages:
                    self._outages.add(path)
                    what = (
                        "spool folder is away again"
                        if watcher.alive()
                        else "spool folder vanished and its watcher with it"
                    )
                    log.warning(f"{what}; watching it again once it is back", folder=str(path))
                continue
            if path not in self._outages and not remounted:
                return f"the watcher of {path} is not running"
            # Back, perhaps as another mount of the share (under another device number, it
            # is found so while its watch, alive, still watches the old one): claimed again
            # before anything is taken from it. Another faxd that took it meanwhile keeps
            # it; this one stops (and, restarted by systemd, exits 2 naming that faxd).
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
            presence.watching(path)
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
