"""The inbox poller: received documents into the inbox folder, exactly once.

Each cycle lists a window of time (core/poll_windows.py), splits it where a listing fills a page,
and delivers every listed document that is ours to receive, oldest window first. A file
is downloaded into `.tmp/` (within an overall deadline), fsynced, its planned name
committed, renamed into place (never over an existing name), its metadata written the same
way into `.meta/`, the folder fsynced, and only then committed as delivered; only after
that commit may the provider's copy be deleted. The watermark (where the next cycle
continues, minus an overlap and the zone margin) moves only past windows whose every
document is done, and never past now. One cycle runs at a time in the process.

This module holds the poller's thread, one cycle's entry (its lock, its errors said once)
and its status; the parts are mixed into InboxPoller: poller_cycle (the windows listed,
documents handed to the workers), poller_routing (which documents are ours and ready, the
folder each goes to), poller_delivery (one file into its folder, committed; the crash
recovery of half-done deliveries; deletion at the provider) and poller_undelivered (files
tried again later or given up). poller_result holds PollResult and InboxWriteError.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import structlog

from faxd.clock import Clock
from faxd.core.inbox_status import InboxStatus
from faxd.core.number_match import comparable_number
from faxd.errors import AuthError, FaxdError, TransientError
from faxd.host.folder_claims import FolderClaims
from faxd.host.inbox_folder import InboxFolder
from faxd.inbound.inbox_claim import InboxClaim
from faxd.inbound.inbox_presence import InboxPresence
from faxd.inbound.poller_cycle import PollCycle
from faxd.inbound.poller_delivery import FileDelivery
from faxd.inbound.poller_result import PollResult
from faxd.inbound.poller_routing import InboxRouting
from faxd.inbound.poller_undelivered import UndeliveredFiles
from faxd.notices.plan import inbox_routes
from faxd.providers.base import InboxSource
from faxd.settings import InboxSettings
from faxd.store.inbox_ledger import InboxLedger
from faxd.store.journal import Journal

log = structlog.get_logger("faxd.inbound.poller")

DEFAULT_OVERLAP = timedelta(minutes=10)
# The provider caps a file at 16 MB; anything far beyond that is a broken or hostile stream.
DEFAULT_MAX_FILE_SIZE = 256 * 1024 * 1024
# Downloads in flight at once: overlaps network waits with fsyncs and journal commits.
DEFAULT_WORKERS = 4
FAILURE_REPEAT = 3600.0  # seconds: a failure that lasts is logged again this often
# One cycle at a time in the whole process: a poller replaced by a reload finishes (or
# stops) its downloads before its successor cleans `.tmp/` or touches the same rows.
_CYCLE_LOCK = threading.Lock()


class InboxPoller(PollCycle, InboxRouting, FileDelivery, UndeliveredFiles):
    """Polls one provider's received documents into the inbox (and its routes)."""

    def __init__(
        self,
        settings: InboxSettings,
        source: InboxSource,
        journal: Journal,
        our_numbers: frozenset[str],
        outbound_ids: Callable[[], Container[str]],
        clock: Clock,
        timezone: tzinfo,
        *,
        overlap: timedelta = DEFAULT_OVERLAP,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        workers: int = DEFAULT_WORKERS,
        claims: FolderClaims | None = None,
    ) -> None:
        """`claims`: the daemon's folder claims, in which the poller claims the inbox again
        whenever it comes back (inbox_claim.py)."""
        self.settings = settings
        self.source = source
        self.ledger = InboxLedger(journal, source.name)
        self._journal = journal
        self.clock = clock
        self.timezone = timezone
        self.overlap = overlap
        self.max_file_size = max_file_size
        self.workers = max(1, workers)
        self._outbound_ids = outbound_ids
        self._numbers = frozenset(comparable_number(n) for n in our_numbers)
        # Every route, folder or mapping, as one rule: the folder a document goes to and
        # its deliveries come from the one route _route_of matched.
        self._routes = {comparable_number(n): r for n, r in inbox_routes(settings).items()}
        self._folders: dict[Path, InboxFolder] = {}
        self._folders_lock = threading.Lock()
        self._presence = InboxPresence(journal)
        self._claim = InboxClaim(claims, settings.path)
        self._recovered = False
        self._warned_no_numbers = False
        self._lock = threading.Lock()  # poll_once from the thread and `faxd send --wait`
        self._last_poll: datetime | None = None
        self._last_success: datetime | None = None
        self._last_error: str | None = None
        self._retry_after: float | None = None
        self._stop: threading.Event | None = None
        # Said once per document or window, not on every poll that finds it again.
        self._told: set[str] = set()
        # The failure last logged and when: an outage is said when it starts, changes or
        # has lasted another FAILURE_REPEAT, and its end is said once.
        self._failure_said: tuple[str, str, float] | None = None

    # -- the service -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Poll every `poll_interval` until `stop` is set. Never dies of a failed cycle."""
        log.info("inbox poller started", provider=self.source.name, inbox=str(self.settings.path))
        while not stop.is_set():
            try:
                self.poll_once(stop)
            except Exception:  # a bug in one cycle must not end inbound for good
                log.exception("inbox poll failed unexpectedly", provider=self.source.name)
                self._last_error = "unexpected error in the inbox poller; see the log"
            wait = self.settings.poll_interval
            if self._retry_after is not None:
                wait = max(wait, self._retry_after)
            stop.wait(wait)
        log.info("inbox poller stopped", provider=self.source.name)

    def status(self) -> InboxStatus:
        """For `faxd status`: last poll, files received today, the last error."""
        midnight = self.clock.now().astimezone(self.timezone)
        midnight = midnight.replace(hour=0, minute=0, second=0, microsecond=0)
        watermark = self.ledger.watermark()
        return InboxStatus(
            provider=self.source.name,
            inbox=str(self.settings.path),
            last_poll=self._last_poll.isoformat() if self._last_poll else None,
            last_success=self._last_success.isoformat() if self._last_success else None,
            received_today=self.ledger.delivered_since(midnight.timestamp()),
            watermark=watermark.isoformat() if watermark else None,
            pending_deletes=len(self.ledger.pending_deletes()),
            incomplete_seconds=len(self.ledger.unresolved()),
            last_error=self._last_error,
        )

    def poll_once(self, stop: threading.Event | None = None) -> PollResult:
        """One cycle. Provider and disk errors end the cycle early and are logged and
        returned in `error`; the next cycle continues where this one got to. Once `stop`
        is set no further download starts, and those in flight stop (the next cycle, or
        the poller that replaces this one, takes them again)."""
        with self._lock, _CYCLE_LOCK:
            self._stop = stop
            result = PollResult()
            self._last_poll = self.clock.now()
            self._retry_after = None
            try:
                self._cycle(result)
            except AuthError as exc:
                result.error = str(exc)
                self._say_failure(
                    "error",
                    "inbox poll refused: the provider does not accept faxd's credentials; "
                    "no document is received until the API key is fixed",
                    result.error,
                )
            except TransientError as exc:
                result.error = str(exc)
                self._retry_after = exc.retry_after
                self._say_failure("warning", "inbox poll interrupted", result.error)
            except (FaxdError, OSError) as exc:
                result.error = str(exc)
                self._say_failure("error", "inbox poll failed", result.error)
            self._last_error = result.error
            if result.error is None:
                self._last_success = self._last_poll
                if self._failure_said is not None:
                    log.info("inbox poll works again", provider=self.source.name)
                    self._failure_said = None
            return result

    def _say_failure(self, level: str, event: str, error: str) -> None:
        """A provider that is down for an hour fails every poll: its log says so when it
        starts, when the error changes and once per FAILURE_REPEAT, not 60 times."""
        now = self.clock.monotonic()
        said = self._failure_said
        if said is not None and said[:2] == (event, error) and now - said[2] < FAILURE_REPEAT:
            log.debug(event, provider=self.source.name, error=error)
            return
        self._failure_said = (event, error, now)
        getattr(log, level)(event, provider=self.source.name, error=error)
