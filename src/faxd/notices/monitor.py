"""The notices and alerts that time causes, not an event: a job not final when its delay
runs out, a stalled inbox, a low disk, a provider or channel refusing faxd's credentials.
Each condition alerts once when it starts and is forgotten when it ends; the outbox
worker looks every MONITOR_EVERY seconds and tells it what its channels meet."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from faxd.clock import Clock
from faxd.core.inbox_status import InboxStatus
from faxd.model import JobState
from faxd.notices.plan import alert_rows, job_notices, wants
from faxd.settings import AlertSettings, Settings
from faxd.store.journal import Journal
from faxd.store.journal_rows import JobRow
from faxd.store.outbox import Outbox

MONITOR_EVERY = 10.0
ALERT_DELAY = 4 * 3600.0  # a job not final this long raises a `delayed` alert
DELAYED_PAGE = 200  # jobs whose delay ran out, read and noted at a time
DELAYED_PAGES = 50  # pages per look


class Monitor:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        outbox: Outbox,
        clock: Clock,
        inbox_status: Callable[[], InboxStatus | None],
    ) -> None:
        self._settings = settings
        self._journal = journal
        self._outbox = outbox
        self._clock = clock
        self._inbox_status = inbox_status
        self._auth_refused: set[str] = set()  # channels with an open `auth` alert
        self._started_at = clock.time()

    def configure(self, settings: Settings) -> None:
        self._settings = settings

    def look(self) -> None:
        now = self._clock.time()
        self._delayed(now)
        alerts = self._settings.alerts
        if alerts is None:
            return
        self._auth_pauses(now)
        self._inbox_stalled(now, alerts.inbox_stalled_after)
        self._disk(now, alerts.disk_free_min)

    def channel_refused(self, channel: str, error: str, now: float) -> None:
        """A channel refused faxd's credentials: alerted until a message goes through."""
        self._auth_refused.add(channel)
        self._condition(
            now,
            "auth",
            f"channel.{channel}",
            True,
            title=f"the channel {channel} refused faxd's credentials",
            text=f"{error} Notices through '{channel}' wait until it is fixed.",
            advice="Put the right password into the file or variable the channel "
            f"names, reload faxd, and run 'faxd test-channel {channel}'.",
        )

    def channel_works(self, channel: str) -> None:
        """A message went through `channel`: a credentials alert it had is over."""
        if channel in self._auth_refused:
            self._auth_refused.discard(channel)
            self._outbox.clear_flag(f"alerted:auth:channel.{channel}")

    def _delayed(self, now: float) -> None:
        """A job's delay ran out: its `delayed` notice and alert are queued, once. Only jobs
        whose delay ran out are read, a page at a time, and each is noted once seen to.
        Every unfinished job was read at each look before: with 100,000 documents queued
        that was over a second of CPU and tens of MB at every look, every ten seconds.

        A job is noted under the alerts configured when its delay ran out: alerts turned on
        later do not reach back to jobs already noted."""
        alerts = self._settings.alerts
        alert_after = ALERT_DELAY if alerts is not None and "delayed" in alerts.on else None
        for _ in range(DELAYED_PAGES):  # the rest at the next look
            jobs = self._journal.delay_ran_out(now, alert_after, DELAYED_PAGE)
            for job in jobs:
                self._queue_delayed(job, now, alerts)
            if jobs:
                self._journal.note_delay([job.id for job in jobs], now)
            if len(jobs) < DELAYED_PAGE:
                return

    def _queue_delayed(self, job: JobRow, now: float, alerts: AlertSettings | None) -> None:
        if job.state in (JobState.DELIVERED, JobState.FAILED):
            return
        # Rows already there (a restart between queueing and noting) are not added again.
        after = job.options.notice.delayed_after
        if after is not None and wants(job.options.notice, "delayed"):
            rows = job_notices(job.id, job.options.notice, "delayed", now)
            if rows and self._outbox.get(rows[0].id) is None:
                self._outbox.add(rows)
        rows = alert_rows(
            alerts,
            "delayed",
            job.id,
            now,
            title=f"{Path(job.path).name} is not sent yet",
            text=(
                f"The fax {Path(job.path).name} (job {job.id}) has not reached a final "
                f"result {int((now - job.received_at) // 60)} minutes after it was "
                "handed in."
            ),
            advice="Look at 'faxd status' and the log; faxd keeps trying.",
        )
        if rows and self._outbox.get(rows[0].id) is None:
            self._outbox.add(rows)

    def _condition(
        self, now: float, event: str, key: str, active: bool, title: str, text: str, advice: str
    ) -> None:
        """Alert once when a condition starts; forget it when it ends."""
        flag = f"alerted:{event}:{key}"
        raised = self._outbox.flag(flag)
        if active and not raised:
            rows = alert_rows(
                self._settings.alerts,
                event,
                f"{key}.{int(now)}",
                now,
                title=title,
                text=text,
                advice=advice,
            )
            self._outbox.add(rows, flag=flag)
        elif not active and raised:
            self._outbox.clear_flag(flag)

    def _auth_pauses(self, now: float) -> None:
        for provider in self._settings.providers:
            pause = self._journal.pause_of(provider)
            active = pause is not None and pause.reason == "auth" and pause.until > now
            self._condition(
                now,
                "auth",
                provider,
                active,
                title=f"the provider {provider} refused faxd's credentials",
                text=f"The provider {provider} refused faxd's credentials; its faxes wait.",
                advice="Put the right credential into the file or variable the configuration "
                "names, then reload faxd (systemctl reload faxd).",
            )

    def _inbox_stalled(self, now: float, after: float) -> None:
        status = self._inbox_status()
        if status is None:
            return
        last = status.last_success
        since = datetime.fromisoformat(last).timestamp() if last else self._started_at
        active = bool(status.last_error) and now - since >= after
        self._condition(
            now,
            "inbox_stalled",
            "inbox",
            active,
            title="received faxes are not being fetched",
            text=(
                f"The inbox poller has failed for {int((now - since) // 60)} minutes: "
                f"{status.last_error}"
            ),
            advice="Check the provider's status and credentials and the inbox folder.",
        )

    def _disk(self, now: float, minimum: int) -> None:
        folders = {self._settings.state_dir, *(f.path for f in self._settings.folders)}
        if self._settings.inbox is not None:
            folders.add(self._settings.inbox.path)
        if self._settings.records.path is not None:
            # Often a share of its own: full, it stops the audit log, which says so only
            # in the log.
            folders.add(self._settings.records.path)
        for folder in sorted(folders):
            try:
                free = shutil.disk_usage(folder).free
            except OSError:
                continue
            self._condition(
                now,
                "disk_low",
                str(folder),
                free < minimum,
                title=f"little free disk space for {folder}",
                text=f"Only {free // (1024 * 1024)} MB are free on the disk holding {folder}.",
                advice="Free space (old sent/ and failed/ documents, logs) or enlarge the disk.",
            )
