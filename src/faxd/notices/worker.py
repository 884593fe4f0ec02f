"""The outbox worker: one thread per channel hands the channel's rows to it, in order per
target (the channel and its address). Its own thread also runs the monitor (monitor.py)
every ten seconds, which raises the notices and alerts that time causes (delayed jobs, a
stalled inbox, a low disk, a provider paused for credentials).

It runs beside the fax path and never inside it: the engine and the intake only commit
rows, which costs one INSERT in a transaction they make anyway."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import structlog
import yaml

from faxd.channels.base import Channel, ChannelError, ChannelStopped, Message
from faxd.channels.command import KILL_GRACE, CommandRunner
from faxd.channels.printer import JobUnknownError, PrintSender
from faxd.channels.smtp import SmtpSender
from faxd.channels.templates import TemplateProblem, Templates
from faxd.channels.webhook import WebhookSender
from faxd.clock import Clock
from faxd.core import yaml_text
from faxd.core.inbox_status import InboxStatus
from faxd.core.outbox_payload import AlertPayload, DeliveryPayload
from faxd.core.secret_url import url_secrets
from faxd.crash_points import crash_point
from faxd.errors import FaxdError
from faxd.host import contained
from faxd.host.logs import register_secret
from faxd.notices.compose import ComposeError, Composer, NotReady
from faxd.notices.monitor import MONITOR_EVERY, Monitor
from faxd.notices.plan import alert_rows
from faxd.settings import (
    ChannelSettings,
    CommandChannel,
    PrintChannel,
    Settings,
    SmtpChannel,
    WebhookChannel,
)
from faxd.store.journal import Journal, JournalWriteError
from faxd.store.outbox import DeliveryRow, NewDelivery, Outbox

log = structlog.get_logger("faxd.notices.worker")

FIRST_RETRY = 5.0
NOT_READY_WAIT = 1.0
IDLE_WAIT = 30.0
META_CAP = 1024 * 1024  # a received document's metadata is a few lines
STOPPED_WAIT = 5.0  # after a program is killed at a stop, for its row to be recorded


def build_channel(settings: ChannelSettings) -> Channel:
    if isinstance(settings, SmtpChannel):
        if settings.password is not None:
            register_secret(settings.password)
        return SmtpSender(settings)
    if isinstance(settings, PrintChannel):
        return PrintSender(settings)
    if isinstance(settings, CommandChannel):
        return CommandRunner(settings)
    register_webhook_secrets(settings)
    return WebhookSender(settings)


def register_webhook_secrets(settings: WebhookChannel) -> None:
    if settings.secret is not None:
        register_secret(settings.secret)
    for part in url_secrets(settings.url):  # the hook's token may be in its URL
        register_secret(part)


def backoff(attempts: int, limit: float, rand: Callable[[], float] = random.random) -> float:
    base = min(limit, FIRST_RETRY * float(2 ** max(0, attempts - 1)))
    return base * (0.9 + 0.2 * rand())


class OutboxWorker:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        clock: Clock,
        *,
        inbox_status: Callable[[], InboxStatus | None] = lambda: None,
        build: Callable[[ChannelSettings], Channel] = build_channel,
    ) -> None:
        self._journal = journal
        self._outbox = Outbox(journal)
        self._clock = clock
        self._build = build
        self._wake = threading.Condition()
        self._threads: dict[str, threading.Thread] = {}
        self._channels: dict[str, Channel] = {}  # each thread's, for a stop to reach
        # Until when a channel that failed as a whole (its server down) is left alone: its
        # messages to other targets would only fail the same way, one attempt each.
        self._paused: dict[str, float] = {}
        self._meta_lock = threading.Lock()
        self._monitor = Monitor(settings, journal, self._outbox, clock, inbox_status)
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        with self._wake:
            self._settings = settings
            self._monitor.configure(settings)
            self._composer = Composer(self._journal, Templates(settings.templates))
            for channel in settings.channels.values():
                if isinstance(channel, WebhookChannel):
                    register_webhook_secrets(channel)
                elif isinstance(channel, SmtpChannel) and channel.password is not None:
                    register_secret(channel.password)
            self._generation = getattr(self, "_generation", 0) + 1
            self._wake.notify_all()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    # -- threads -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        last_monitor = -MONITOR_EVERY
        seen = -1
        while not stop.is_set():
            newest = self._outbox.last_seq()
            if newest != seen:
                seen = newest
                self.wake()  # new rows: the channel threads need not wait out their pause
            for name in sorted(self._outbox.pending_channels() | set(self._settings.channels)):
                thread = self._threads.get(name)
                if thread is None or not thread.is_alive():
                    self._start_channel(name, stop)
            mono = self._clock.monotonic()
            if mono - last_monitor >= MONITOR_EVERY:
                last_monitor = mono
                try:
                    self.monitor()
                except Exception:
                    log.exception("notice monitor failed; continuing")
            stop.wait(0.5)
        with self._wake:
            self._wake.notify_all()

    def monitor(self) -> None:
        self._monitor.look()

    def _start_channel(self, name: str, stop: threading.Event) -> None:
        def body() -> None:
            channel: Channel | None = None
            generation = -1
            try:
                while not stop.is_set():
                    if generation != self._generation:
                        if channel is not None:
                            channel.close()
                        with self._wake:
                            generation, settings = self._generation, self._settings
                        found = settings.channels.get(name)
                        channel = self._build(found) if found is not None else None
                        if channel is not None:
                            self._channels[name] = channel
                        else:
                            self._channels.pop(name, None)
                    wait = self.drain(name, channel, stop, generation)
                    if channel is not None and wait > 0:
                        channel.close()  # do not hold an SMTP connection open while idle
                    with self._wake:
                        if wait > 0 and not stop.is_set():
                            self._wake.wait(min(wait, IDLE_WAIT))
            except Exception:
                log.exception("channel worker died", channel=name)
            finally:
                if channel is not None:
                    channel.close()

        thread = threading.Thread(target=body, name=f"faxd-channel-{name}", daemon=True)
        thread.start()
        self._threads[name] = thread

    def shutdown(self, wait: float) -> None:
        """At a stop (`stop` set): a message under way has `wait` seconds to end and be
        recorded. A program still running then is killed with its children, and its row
        stays pending: left running, it would run again at the next start beside itself.
        A mail, webhook or print under way is not waited for longer: it is repeated as the
        same message (Message-ID, event id, the CUPS job followed), which receivers drop."""
        deadline = time.monotonic() + wait
        threads = list(self._threads.items())
        for _, thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for name, thread in threads:
            channel = self._channels.get(name)
            if not thread.is_alive() or not isinstance(channel, CommandRunner):
                continue
            log.warning("stopping a channel's program that is still running", channel=name)
            ends = time.monotonic() + KILL_GRACE + STOPPED_WAIT
            while thread.is_alive() and time.monotonic() < ends:
                channel.close()  # again: the thread may have started it only just now
                thread.join(0.2)

    # -- draining ------------------------------------------------------------------------

    def drain(
        self,
        name: str,
        channel: Channel | None,
        stop: threading.Event | None = None,
        generation: int | None = None,
    ) -> float:
        """Send a channel's due rows in order per target; the seconds until the next one
        is due (0: call again at once). `channel` was built from the configuration of
        `generation`: once it is reloaded, the caller builds the channel anew first."""
        with self._wake:
            settings, current = self._settings, self._generation
        if generation is not None and generation != current:
            return 0.0
        configured = settings.channels.get(name)
        now = self._clock.time()
        if self._paused.get(name, 0.0) > now:
            return self._paused[name] - now
        rows = self._outbox.due(name, now, 200)
        if not rows:
            soonest = self._outbox.next_retry(name, now)
            return IDLE_WAIT if soonest is None else soonest - now
        waiting: set[str] = set()  # targets that met a retry in this round
        for row in rows:
            if stop is not None and stop.is_set():
                return IDLE_WAIT
            if row.target in waiting:
                continue  # in order: a later row never overtakes one that waits
            if self._generation != current:
                return 0.0  # reloaded while sending: the channel may be changed or gone
            now = self._clock.time()
            if channel is None or configured is None:
                self._give_up(row, f"the channel '{name}' is not configured (any more)", now)
                continue
            wait = self._attempt(row, channel, configured, now)
            if self._paused.get(name, 0.0) > now:
                return wait
            if wait > 0:
                waiting.add(row.target)
        return 0.0

    def _attempt(
        self, row: DeliveryRow, channel: Channel, settings: ChannelSettings, now: float
    ) -> float:
        bound = log.bind(channel=row.channel, about=row.event, kind=row.kind, id=row.id)
        try:
            message = self._composer.compose(row, now)
        except NotReady:
            self._outbox.mark_retry(
                row.id, "waiting for the job to be filed", now + NOT_READY_WAIT, count=False
            )
            return NOT_READY_WAIT
        except (ComposeError, TemplateProblem) as exc:
            self._give_up(row, str(exc), now)
            return 0.0
        crash_point("outbox_before_send")
        try:
            if isinstance(channel, PrintSender):
                self._print(row, channel, message)
            else:
                channel.send(message)
        except ChannelStopped as exc:
            self._outbox.mark_retry(row.id, str(exc), now, count=False)
            bound.info("stopped with faxd; sent at the next start")
            return IDLE_WAIT
        except ChannelError as exc:
            if exc.auth:
                self._monitor.channel_refused(row.channel, str(exc), now)
            if exc.permanent or now - row.created_at >= settings.give_up_after:
                self._give_up(row, str(exc), now)
                return 0.0
            delay = backoff(row.attempts + 1, settings.retry_max)
            self._outbox.mark_retry(row.id, str(exc), now + delay)
            if not exc.recipient:
                self._paused[row.channel] = now + delay
            bound.warning(
                "channel did not take the message; trying again later",
                error=str(exc),
                retry_in=round(delay, 1),
            )
            return delay
        except JournalWriteError:
            raise  # said by the journal; the row stays pending for the next round
        except Exception as exc:
            # A bug with one message (its text, a name in it) must not stop the channel:
            # the rows behind it wait in order, and a worker restarted on the same row
            # would fail on it again and again. The exception's text stays in the log.
            bound.exception("could not send the message; giving it up")
            self._give_up(
                row, f"faxd could not build or send it ({type(exc).__name__}; see the log)", now
            )
            return 0.0
        crash_point("outbox_after_send")
        self._outbox.mark_done(row.id, self._clock.time())
        self._monitor.channel_works(row.channel)
        crash_point("outbox_after_done")
        self._record_outcome(row, "delivered", None)
        bound.info("message handed over", target=_shown_target(row))
        return 0.0

    def _print(self, row: DeliveryRow, printer: PrintSender, message: Message) -> None:
        """Print at most once: the job is queued held, its id committed, then released.
        After a crash the recorded job is followed instead of printing again."""
        payload = row.payload
        if isinstance(payload, AlertPayload):  # an alert has no file to print
            raise ChannelError("nothing to print for this event", permanent=True)
        job = payload.cups_job
        if job is None:
            if message.print_file is None:
                raise ChannelError("nothing to print for this event", permanent=True)
            job = printer.submit(message.print_file, message.subject, hold=True)
            self._outbox.set_payload(row.id, replace(payload, cups_job=job))
            crash_point("print_after_job_recorded")
        printer.resume(job)
        try:
            printer.follow(job)
        except JobUnknownError:
            raise  # it may still print: the next attempt follows it again
        except ChannelError:
            # That job is cancelled or gone: the next attempt queues a new one.
            self._outbox.set_payload(row.id, replace(payload, cups_job=None))
            raise

    def _give_up(self, row: DeliveryRow, error: str, now: float) -> None:
        alerts: list[NewDelivery] = []
        if row.kind != "alert":  # an alert about a failed alert could loop
            alerts = alert_rows(
                self._settings.alerts,
                "delivery_failed",
                row.id,
                now,
                title=f"a {row.kind} could not be delivered",
                text=(
                    f"faxd gave up on a {row.kind} ({row.event}) to {_shown_target(row)} "
                    f"after {row.attempts + 1} attempt(s): {error}"
                ),
                advice=(
                    "Check the channel's settings and run 'faxd test-channel "
                    f"{row.channel}'. Nothing was lost: documents stay in their folders."
                ),
            )
            alerts = [a for a in alerts if a.channel != row.channel] or alerts
        self._outbox.mark_failed(row.id, error, now, alerts)
        self._record_outcome(row, "failed", error)
        log.error(
            "gave up on a message",
            channel=row.channel,
            about=row.event,
            id=row.id,
            target=_shown_target(row),
            error=error,
        )

    def _record_outcome(self, row: DeliveryRow, result: str, error: str | None) -> None:
        """A received document's metadata YAML lists each delivery and how it ended."""
        payload = row.payload
        if not isinstance(payload, DeliveryPayload) or not payload.meta_path:
            return
        path = Path(payload.meta_path)
        with self._meta_lock:  # two channels may finish the same document at once
            self._write_outcome(path, row, result, error)

    def _write_outcome(self, path: Path, row: DeliveryRow, result: str, error: str | None) -> None:
        # INBOX/.meta/NAME.yaml, read and replaced below the inbox folder without following
        # a link: a .meta swapped for one would have faxd rewrite a file elsewhere.
        inbox = path.parent.parent
        try:
            raw, _ = contained.read_beneath(inbox, path, META_CAP, "metadata file")
            data = yaml.safe_load(raw.decode("utf-8")) or {}
            if not isinstance(data, dict):
                return
            deliveries = data.get("deliveries")
            if not isinstance(deliveries, dict):
                deliveries = data["deliveries"] = {}
            deliveries[row.target] = {
                "result": result,
                "at": datetime.fromtimestamp(self._clock.time()).astimezone().isoformat(),
                **({"error": error} if error else {}),
            }
            text = yaml_text.dump(data)
            contained.write_beneath(inbox, path, text.encode("utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError, FaxdError) as exc:
            log.warning(
                "could not record the delivery in the metadata", path=str(path), error=str(exc)
            )


def _shown_target(row: DeliveryRow) -> str:
    return row.target


def wait_idle(outbox: Outbox, timeout: float) -> bool:
    """For `faxd test-channel` and tests: until no row is pending (real time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not outbox.pending_channels():
            return True
        time.sleep(0.1)
    return False
