"""The inbox poller: received documents into the inbox folder, exactly once.

Each cycle lists a window of time (core/poll_windows.py), splits it where a listing fills a page,
and delivers every listed document that is ours to receive, oldest window first. A file
is downloaded into `.tmp/` (within an overall deadline), fsynced, its planned name
committed, renamed into place (never over an existing name), its metadata written the same
way into `.meta/`, the folder fsynced, and only then committed as delivered; only after
that commit may the provider's copy be deleted. The watermark (where the next cycle
continues, minus an overlap and the zone margin) moves only past windows whose every
document is done, and never past now. One cycle runs at a time in the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import BinaryIO, cast

import structlog

from faxd.clock import Clock
from faxd.core import yaml_text
from faxd.core.inbox_status import InboxStatus
from faxd.core.names import first_free, inbox_name
from faxd.core.number_match import comparable_number
from faxd.core.outbox_payload import DeliveryPayload
from faxd.core.poll_windows import (
    ZONE_MARGIN,
    Unlistable,
    Window,
    poll_window,
    walk,
    watermark_after,
)
from faxd.core.received_check import unusable_download
from faxd.core.received_meta import ReceivedMeta
from faxd.crash_points import crash_point
from faxd.errors import AuthError, FaxdError, ProviderError, RejectedError, TransientError
from faxd.host.fsops import file_sha256
from faxd.host.inbox_folder import (
    STOPPING,
    DownloadStoppedError,
    FileTooLargeError,
    InboxFolder,
    missing_text,
)
from faxd.model import ReceivedDocument, ReceivedFile
from faxd.notices.plan import inbound_deliveries, inbox_routes
from faxd.providers.base import InboxSource, unreadable_in
from faxd.settings import InboxSettings, RouteRule
from faxd.store.inbox_ledger import DONE_STATES, InboundRow, InboxLedger
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery

log = structlog.get_logger("faxd.inbound.poller")

DEFAULT_OVERLAP = timedelta(minutes=10)
# The provider caps a file at 16 MB; anything far beyond that is a broken or hostile stream.
DEFAULT_MAX_FILE_SIZE = 256 * 1024 * 1024
# A listed file the provider refuses to hand out may simply not be ready yet: try it on
# this many cycles before giving it up (and letting the watermark move past it).
MAX_MISSING_ATTEMPTS = 3
# Downloads in flight at once: overlaps network waits with fsyncs and journal commits.
DEFAULT_WORKERS = 4
FAILURE_REPEAT = 3600.0  # seconds: a failure that lasts is logged again this often
# A document in one of these states has no files to take yet: listed again later.
NOT_READY_STATUSES = frozenset({"sending"})
# A document that failed at the provider may come without files, and none will come.
FAILED_STATUSES = frozenset({"failed"})
# Server errors for single files in one cycle before it is taken for an outage and ends.
FILE_ERRORS_PER_CYCLE = 3
_CUT_OFF = (
    "received file downloads too slowly or breaks off; stopped it so the other documents go"
    " on, and trying again on the next poll"
)
_FILE_ERROR = (
    "received file answered with a server error; the other documents go on, and it is"
    " tried again on the next poll"
)
# A window whose listing stays cut off is listed again on every poll for this long.
UNRESOLVED_KEEP = timedelta(days=7)
# One cycle at a time in the whole process: a poller replaced by a reload finishes (or
# stops) its downloads before its successor cleans `.tmp/` or touches the same rows.
_CYCLE_LOCK = threading.Lock()


class InboxWriteError(FaxdError):
    """A received file could not be written into the inbox (disk full, permissions)."""


@dataclass
class PollResult:
    """What one poll cycle did."""

    windows: int = 0
    truncated_windows: int = 0
    listed: int = 0
    delivered: int = 0  # files newly written into the inbox
    recovered: int = 0  # files found in place after a crash and committed
    known: int = 0  # files already delivered earlier
    outbound: int = 0  # documents faxd sent itself
    foreign: int = 0  # documents for numbers that are not ours
    unavailable: int = 0  # files the provider refused to hand out
    deleted: int = 0  # documents deleted at the provider
    tmp_removed: int = 0
    not_ready: int = 0  # documents listed before their files are there
    retry: int = 0  # downloads past their deadline (or stopped): tried again later
    file_errors: int = 0  # server errors for single files: tried again later
    error: str | None = None

    def count(self, name: str) -> None:
        """Add one to a counter; the workers of a cycle share the result."""
        with _COUNT_LOCK:
            setattr(self, name, getattr(self, name) + 1)


_COUNT_LOCK = threading.Lock()


def _printable(text: str) -> str:
    """Lone surrogates (undecodable bytes in a remote name) survive as visible escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _decodable(text: str) -> str:
    """Lone surrogates (what undecodable bytes in a remote name become) as U+FFFD: names.py
    encodes to UTF-8 and would fail on them."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _usable(name: str | None) -> bool:
    return bool(name) and any(ch.isalnum() for ch in name or "")


def original_name(listed: str | None, disposition: str | None, file_id: str) -> str:
    """The listing's file name, else the download's Content-Disposition name, else the id."""
    for candidate in (listed, disposition):
        if _usable(candidate):
            assert candidate is not None
            return candidate
    return file_id


def sidecar_text(meta: ReceivedMeta, name: str) -> str:
    data = {
        "id": meta.remote_id,
        "file_id": meta.file_id,
        "file": name,
        "original_name": _printable(meta.original_name),
        "sender": _printable(meta.sender),
        "recipient": _printable(meta.recipient),
        "time": meta.time,
        "type": _printable(meta.type),
        "status": _printable(meta.status),
        "provider": meta.provider,
        "size": meta.size,
        "sha256": meta.sha256,
    }
    return yaml_text.dump(data)


class InboxPoller:
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
    ) -> None:
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

    # -- one cycle ---------------------------------------------------------------------

    def _cycle(self, result: PollResult) -> None:
        self._check_folders_there()
        if not self._recovered:
            self._recover(result)
            self._recovered = True
        self._flush_deletes(result)
        for folder in self._folders.values():
            folder.forget_names()
        outbound = self._outbound_ids()
        if not self._numbers and not self._warned_no_numbers:
            log.warning(
                "no numbers of ours are configured: every received document faxd did not "
                "send itself goes into the inbox; list them under inbox.numbers or routes",
                provider=self.source.name,
            )
            self._warned_no_numbers = True
        previous = self.ledger.watermark()
        now = self.clock.now()
        # The provider's zone is unknown (its times carry no offset): every window is
        # widened by the largest distance between two zones; the ledger drops repeats.
        window = poll_window(
            previous, now, timedelta(seconds=self.settings.lookback), self.overlap, ZONE_MARGIN
        )
        seen: set[str] = set()
        complete = True  # every leaf so far fully delivered: the watermark may follow
        with ThreadPoolExecutor(self.workers, thread_name_prefix="faxd-inbox") as pool:
            self._revisit_unresolved(pool, outbound, seen, result)
            for leaf in walk(window, self._list, self.source.page_limit):
                if self._stopping():
                    return
                result.windows += 1
                if leaf.truncated:
                    result.truncated_windows += 1
                    self._remember_unresolved(leaf.window, len(leaf.items))
                # A split's shared boundary (or a provider's hiccup) lists a document twice.
                fresh: list[ReceivedDocument] = []
                for doc in leaf.items:
                    if doc is not None and doc.remote_id not in seen:
                        seen.add(doc.remote_id)
                        fresh.append(doc)
                result.listed += len(fresh)
                if not self._handle_all(pool, fresh, outbound, result):
                    complete = False
                mark = watermark_after(leaf.window.end, now)
                if complete and (previous is None or mark > previous):
                    self.ledger.set_watermark(mark)
                    previous = mark

    def _remember_unresolved(self, window: Window, count: int) -> None:
        """A window still cut off at the page limit, even in fractions of a second: the
        documents it did list are taken, and it is listed again on every later poll (kept
        out of the watermark's way, so the rest of the inbox goes on)."""
        key = {"start": window.start.isoformat(), "end": window.end.isoformat()}
        known = self.ledger.unresolved()
        if any(w["start"] == key["start"] and w["end"] == key["end"] for w in known):
            return
        self.ledger.set_unresolved([*known, key | {"since": self.clock.now().isoformat()}])
        log.error(
            "the provider lists a full page for one second and cannot be asked for less; "
            "documents received in that second may be missing: faxd lists it again on every "
            "poll and says here when it gives up",
            provider=self.source.name,
            start=window.start.isoformat(),
            end=window.end.isoformat(),
            count=count,
        )

    def _revisit_unresolved(
        self,
        pool: ThreadPoolExecutor,
        outbound: Container[str],
        seen: set[str],
        result: PollResult,
    ) -> None:
        """List every remembered cut-off window again and take what it shows now."""
        known = self.ledger.unresolved()
        if not known:
            return
        keep: list[dict[str, str]] = []
        for entry in known:
            if self._stopping():
                return
            window = Window(
                datetime.fromisoformat(entry["start"]), datetime.fromisoformat(entry["end"])
            )
            since = datetime.fromisoformat(entry["since"])
            resolved = True
            for leaf in walk(window, self._list, self.source.page_limit):
                fresh = [d for d in leaf.items if d is not None and d.remote_id not in seen]
                seen.update(d.remote_id for d in fresh)
                result.listed += len(fresh)
                done = self._handle_all(pool, fresh, outbound, result)
                resolved = resolved and done and not leaf.truncated
            if resolved:
                log.info(
                    "a second that held a full page is now listed completely",
                    provider=self.source.name,
                    start=entry["start"],
                )
            elif self.clock.now() - since > UNRESOLVED_KEEP:
                log.error(
                    "giving up on a second that still lists a full page; documents received "
                    "in it may be missing: ask the provider for them by their time",
                    provider=self.source.name,
                    start=entry["start"],
                    end=entry["end"],
                )
            else:
                keep.append(entry)
        self.ledger.set_unresolved(keep)

    def _handle_all(
        self,
        pool: ThreadPoolExecutor,
        docs: list[ReceivedDocument],
        outbound: Container[str],
        result: PollResult,
    ) -> bool:
        """Deliver documents on the pool's workers; re-raise the first failure once every
        started download has finished (none is left half-done in the inbox)."""
        futures = [pool.submit(self._handle, doc, outbound, result) for doc in docs]
        complete = True
        failure: BaseException | None = None
        for future in futures:
            try:
                complete = future.result() and complete
            except BaseException as exc:  # a crash in a worker: re-raised after the others
                if failure is None:
                    failure = exc
                    for other in futures:
                        other.cancel()
        if failure is not None:
            raise failure
        return complete

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _list(self, window: Window) -> list[ReceivedDocument | None]:
        """The window's documents, and a None for each record the source listed but could
        not read (it left them out and said so): they filled the page too, so a full page
        is still split rather than taken as complete."""
        listed = self._list_source(window)
        return [*listed, *[None] * unreadable_in(listed)]

    def _list_source(self, window: Window) -> list[ReceivedDocument]:
        if not window.fine:
            return self.source.list_received(window.start, window.end)
        try:
            return self.source.list_received(window.start, window.end, fractions=True)
        except RejectedError as exc:
            if "fractions" not in self._told:
                self._told.add("fractions")
                log.warning(
                    "the provider refuses fractions of a second in a listing, so an overfull "
                    "second cannot be split",
                    provider=self.source.name,
                    error=str(exc),
                )
            raise Unlistable(str(exc)) from None

    def _is_ours_to_receive(
        self, doc: ReceivedDocument, outbound: Container[str], result: PollResult
    ) -> bool:
        if doc.remote_id in outbound:
            result.count("outbound")
            return False
        if self._numbers and self._our_recipient(doc) is None:
            result.count("foreign")
            return False
        return True

    def _our_recipient(self, doc: ReceivedDocument) -> str | None:
        """The first listed recipient that is ours (the provider may list several)."""
        for number in doc.all_recipients():
            if comparable_number(number) in self._numbers:
                return number
        return None

    def _is_ready(self, doc: ReceivedDocument, result: PollResult) -> bool:
        """Only a document whose files are there is taken; one still `Sending`, or listed
        before its files exist, is looked at again on a later poll (never marked done)."""
        status = doc.status.strip().lower()
        if status not in NOT_READY_STATUSES and doc.files:
            return True
        if status in FAILED_STATUSES:
            # Final at the provider with nothing to download: done, but said (once).
            if f"failed:{doc.remote_id}" not in self._told:
                self._told.add(f"failed:{doc.remote_id}")
                log.warning(
                    "received document failed at the provider and has no files; nothing to save",
                    provider=self.source.name,
                    remote_id=doc.remote_id,
                    sender=doc.sender,
                )
            return True
        result.count("not_ready")
        told = f"not-ready:{doc.remote_id}"
        if told not in self._told:
            self._told.add(told)
            log.info(
                "received document not complete yet; looking again on the next poll",
                provider=self.source.name,
                remote_id=doc.remote_id,
                status=doc.status,
                files=len(doc.files),
            )
        return False

    def _route_of(self, recipient: str | None, sender: str | None) -> RouteRule | None:
        """The route a document takes (None: the inbox itself); a route with `from` only
        for senders whose number starts with it, the others go to the inbox itself."""
        rule = self._routes.get(comparable_number(recipient or ""))
        if rule is None:
            return None
        prefix = rule.sender_prefix
        if prefix and not comparable_number(sender or "").startswith(prefix):
            return None
        return rule

    def _folder_for(self, doc: ReceivedDocument) -> InboxFolder:
        route = self._route_of(self._our_recipient(doc) or doc.recipient, doc.sender)
        return self._folder(route.path if route is not None else self.settings.path)

    def _folder(self, path: Path) -> InboxFolder:
        with self._folders_lock:
            folder = self._folders.get(path)
            if folder is None:
                folder = self._folders[path] = InboxFolder(
                    path, self._root_of(path), may_make_root=self._may_make
                )
            return folder

    def _may_make(self, root: Path) -> bool:
        """A configured folder faxd has delivered into before and now finds missing is a
        share that is not mounted or a folder renamed away: an outage, never made afresh."""
        return not self._journal.folder_seen(root)

    def _configured_roots(self) -> set[Path]:
        return {self._root_of(p) for p in (self.settings.path, *self.settings.routes.values())}

    def _check_folders_there(self) -> None:
        """End the cycle before anything is listed while a folder is away: its documents
        wait at the provider (the watermark stays), none is delivered out of sight."""
        for root in sorted(self._configured_roots()):
            if not root.is_dir() and not self._may_make(root):
                raise InboxWriteError(
                    f"Received documents are not delivered: {missing_text(root)}.",
                    "Mount the share or put the folder back; faxd delivers into it by itself.",
                )

    def _root_of(self, path: Path) -> Path:
        """The configured folder `path` is opened from: the inbox for a route's folder
        inside it (staff may write there, and swap the route's folder for a link), else
        the folder itself."""
        inbox = self.settings.path
        return inbox if path.is_relative_to(inbox) else path

    def _handle(self, doc: ReceivedDocument, outbound: Container[str], result: PollResult) -> bool:
        """Deliver a document's files. False: something is left for a later cycle."""
        if not self._is_ours_to_receive(doc, outbound, result):
            return True
        if not self._is_ready(doc, result):
            return False
        if not doc.files:
            return True  # failed at the provider, nothing to take (said above)
        done = True
        for index, item in enumerate(doc.files):
            row = self.ledger.row(doc.remote_id, item.file_id)
            if row is not None and row.state in DONE_STATES:
                result.count("known")
                continue
            if row is not None and self._finish_in_place(row, len(doc.files), result):
                continue
            if self._stopping() or result.file_errors >= FILE_ERRORS_PER_CYCLE:
                return False  # stopping, or an outage ends this cycle: the next one goes on
            done = self._download(doc, index, item, result) and done
        return done

    # -- one file ----------------------------------------------------------------------

    def _meta(self, doc: ReceivedDocument, item: ReceivedFile, original: str) -> ReceivedMeta:
        return ReceivedMeta(
            remote_id=doc.remote_id,
            file_id=item.file_id,
            original_name=original,
            sender=doc.sender,
            recipient=self._our_recipient(doc) or doc.recipient,
            time=doc.time.astimezone(self.timezone).isoformat(),
            type=doc.type,
            status=doc.status,
            provider=self.source.name,
            files=len(doc.files),
        )

    def _download(
        self, doc: ReceivedDocument, index: int, item: ReceivedFile, result: PollResult
    ) -> bool:
        folder = self._folder_for(doc)
        where = f"document {doc.remote_id} file {index + 1} ({item.file_id})"
        try:
            with folder.tmp_file(self.max_file_size, self._deadline()) as sink:
                try:
                    disposition = self.source.fetch(item.file_id, cast(BinaryIO, sink))
                except (ProviderError, OSError):
                    # The provider may wrap what our own write raised: the sink kept it.
                    if sink.error is not None:
                        raise sink.error from None
                    raise
        except FileTooLargeError as exc:
            return self._give_up(doc, item, where, exc.strerror or "too large", result)
        except DownloadStoppedError as exc:
            return self._retry_later(doc, item, where, str(exc), result, say=exc.too_slow)
        except TransientError as exc:
            # Cut off in the middle of its body, or a server error for this one file: the
            # other files go on (one broken file must not hold up the inbox). No answer
            # at all, throttling, or server errors for several files end the cycle.
            if exc.throttled or (exc.status_code is None and not sink.size):
                raise
            if exc.status_code is not None:
                result.count("file_errors")
                if result.file_errors >= FILE_ERRORS_PER_CYCLE:
                    raise
                return self._retry_later(
                    doc, item, where, str(exc), result, say=True, event=_FILE_ERROR
                )
            return self._retry_later(doc, item, where, str(exc), result, say=True)
        except RejectedError as exc:
            # The message alone: its hint is advice for sending, not receiving.
            return self._missing(doc, item, where, exc.message, result)
        except OSError as exc:
            raise InboxWriteError(
                f"Could not write {where} into {folder.path}: {exc.strerror or exc}.",
                "Free space or fix the folder's permissions; faxd tries again on the next poll.",
            ) from None
        original = original_name(item.name, disposition, item.file_id)
        problem = unusable_download(
            sink.size, bytes(sink.head), original, rendered=doc.type == "Fax"
        )
        if problem is not None:
            folder.discard(sink)
            return self._missing(doc, item, where, problem, result)
        crash_point("inbound_after_tmp")
        meta = self._meta(doc, item, original).downloaded(sink.size, sink.sha256)
        local_time = doc.time.astimezone(self.timezone)
        wanted = inbox_name(local_time, _decodable(doc.sender), _decodable(original))
        try:
            while True:
                name = first_free(wanted, folder.is_taken)
                planned = self.ledger.plan(
                    doc.remote_id,
                    item.file_id,
                    folder.path / name,
                    sink.sha256,
                    sink.size,
                    meta,
                    self.clock.time(),
                )
                if not planned:
                    # Delivered meanwhile by another poller: its row and file stand.
                    folder.discard(sink)
                    result.count("known")
                    return True
                if folder.publish(sink, name):
                    break
            crash_point("inbound_after_rename")
            folder.write_meta(name, sidecar_text(meta, name))
        except OSError as exc:
            folder.discard(sink)
            raise InboxWriteError(
                f"Could not put {where} into {folder.path}: {exc.strerror or exc}.",
                "Free space or fix the folder's permissions; faxd tries again on the next poll.",
            ) from None
        except FaxdError:
            # The journal could not record it (a full state disk): the next poll downloads
            # it again, so this copy must not stay behind in .tmp/ at every poll.
            folder.discard(sink)
            raise
        crash_point("inbound_before_commit")
        self._commit(doc.remote_id, item.file_id, len(doc.files), result, folder.path / name, meta)
        result.count("delivered")
        log.info(
            "received document saved",
            provider=self.source.name,
            remote_id=doc.remote_id,
            document=str(folder.path / name),
            sender=doc.sender,
            recipient=doc.recipient,
        )
        return True

    def _deadline(self) -> Callable[[], str | None]:
        """Why a download in progress must stop now, or None: its overall deadline (a
        trickling answer never hits the read timeout) or faxd stopping or reloading."""
        limit = self.settings.download_timeout
        ends = self.clock.monotonic() + limit

        def reason() -> str | None:
            if self._stopping():
                return STOPPING
            if self.clock.monotonic() >= ends:
                return f"not complete after {limit:g} s"
            return None

        return reason

    def _retry_later(
        self,
        doc: ReceivedDocument,
        item: ReceivedFile,
        where: str,
        reason: str,
        result: PollResult,
        *,
        say: bool,
        event: str = _CUT_OFF,
    ) -> bool:
        """A download cut off (its deadline, a broken connection, a stop) or answered
        with a server error: the others go on, this one is tried again on a later poll.
        Said once per file, however many polls it takes; a stop is not worth saying."""
        meta = self._meta(doc, item, original_name(item.name, None, item.file_id))
        self.ledger.note_retry(doc.remote_id, item.file_id, reason, meta, self.clock.time())
        result.count("retry")
        told = f"retry:{doc.remote_id}:{item.file_id}"
        if say and told not in self._told:
            self._told.add(told)
            log.warning(
                event,
                provider=self.source.name,
                remote_id=doc.remote_id,
                file=where,
                error=reason,
            )
        return False

    def _missing(
        self,
        doc: ReceivedDocument,
        item: ReceivedFile,
        where: str,
        reason: str,
        result: PollResult,
    ) -> bool:
        """Refused, or answered with an empty file or a web page: tried again on the next
        polls, then given up (kept at the provider, and said)."""
        row = self.ledger.row(doc.remote_id, item.file_id)
        # Only answers that were no file count: a timeout or a stop says nothing of it.
        attempts = (row.refusals if row else 0) + 1
        if attempts < MAX_MISSING_ATTEMPTS:
            log.warning(
                "received file not available yet; trying again next poll",
                provider=self.source.name,
                remote_id=doc.remote_id,
                file=where,
                error=reason,
            )
            meta = self._meta(doc, item, original_name(item.name, None, item.file_id))
            self.ledger.note_attempt(doc.remote_id, item.file_id, reason, meta, self.clock.time())
            return False
        return self._give_up(doc, item, where, f"failed {attempts} times: {reason}", result)

    def _give_up(
        self,
        doc: ReceivedDocument,
        item: ReceivedFile,
        where: str,
        reason: str,
        result: PollResult,
    ) -> bool:
        meta = self._meta(doc, item, original_name(item.name, None, item.file_id))
        self.ledger.mark_unavailable(doc.remote_id, item.file_id, reason, meta, self.clock.time())
        result.count("unavailable")
        log.error(
            f"Received {where} cannot be downloaded ({reason}); it is not in the inbox. "
            "Ask the sender to send it again.",
            provider=self.source.name,
            remote_id=doc.remote_id,
        )
        self._keep_if_given_up(doc.remote_id, len(doc.files))
        return True

    def _finish_in_place(self, row: InboundRow, files: int, result: PollResult) -> bool:
        """A crash or a failed write (of the .meta) came between renaming a file into place
        and committing it: if the planned file is there with the recorded bytes, finish its
        bookkeeping instead of downloading again."""
        if row.path is None or row.sha256 is None:
            return False
        try:
            if not row.path.is_file() or file_sha256(row.path) != row.sha256:
                return False
        except OSError:
            return False
        folder = self._folder(row.path.parent)
        try:
            folder.write_meta(row.path.name, sidecar_text(row.meta, row.path.name))
        except OSError as exc:
            raise InboxWriteError(
                f"Could not write the sidecar of {row.path}: {exc.strerror or exc}.",
                "Free space or fix the folder's permissions; faxd tries again on the next poll.",
            ) from None
        self._commit(row.remote_id, row.file_id, files, result, row.path, row.meta)
        result.count("recovered")
        log.info(
            # A crash, or a failed write of its .meta on an earlier poll, left it here.
            "received document already in its folder; its bookkeeping is finished now",
            provider=self.source.name,
            remote_id=row.remote_id,
            document=str(row.path),
        )
        return True

    def _commit(
        self,
        remote_id: str,
        file_id: str,
        files: int,
        result: PollResult,
        path: Path,
        meta: ReceivedMeta,
    ) -> None:
        queued = self.ledger.deliver(
            remote_id,
            file_id,
            self.clock.time(),
            files_in_document=files,
            queue_delete=self.settings.delete_after_download,
            outbox=self._deliveries(remote_id, file_id, path, meta),
        )
        if queued:
            self._delete(remote_id, result)
        else:
            self._keep_if_given_up(remote_id, files)

    def _keep_if_given_up(self, remote_id: str, files: int) -> None:
        """With delete_after_download, a document with a file faxd gave up on stays at the
        provider: its Delete removes every file's content, and the given-up file's only
        copy with it. Said once, when its last file is done (and noted on the row)."""
        if not self.settings.delete_after_download:
            return
        kept = self.ledger.keep_at_provider(remote_id, files, self.clock.time())
        if kept:
            log.warning(
                "received document kept at the provider although delete_after_download is on:"
                " a file of it could not be saved, and deleting the document would destroy"
                " that file's only copy",
                provider=self.source.name,
                remote_id=remote_id,
                not_saved=kept,
            )

    def _deliveries(
        self, remote_id: str, file_id: str, path: Path, meta: ReceivedMeta
    ) -> list[NewDelivery]:
        """Mail, print... for a file now at `path` (its planned row says so, with `meta`):
        the `deliver` of the route _route_of matched for its folder (none for a route that
        is a plain folder), else the inbox's (committed with the file's delivery, so a
        crash loses none)."""
        sender = meta.sender
        number = meta.recipient
        route = self._route_of(number, sender)
        document = DeliveryPayload(
            path=str(path),
            number=number,
            sender=sender or None,
            received_id=remote_id,
            meta_path=str(InboxFolder(path.parent).meta_path(path.name)),
        )
        return inbound_deliveries(
            self.settings, route, f"{remote_id}.{file_id}", document, self.clock.time()
        )

    # -- start-up and remote deletion --------------------------------------------------

    def _recover(self, result: PollResult) -> None:
        paths = {self.settings.path, *self.settings.routes.values()}
        for path in paths:
            folder = self._folder(path)
            try:
                folder.ensure()
                removed = folder.clean_tmp()
            except OSError as exc:
                raise InboxWriteError(
                    f"Could not prepare the inbox folder {path}: {exc.strerror or exc}.",
                    "Create it and let the faxd user write to it; faxd tries again on the next "
                    "poll.",
                ) from None
            if removed:
                log.info("removed unfinished downloads", folder=str(folder.tmp), count=removed)
            result.tmp_removed += removed
            if self._may_make(folder.root):
                self._journal.note_folder_seen(folder.root)
        for row in self.ledger.interrupted():
            self._finish_in_place(row, row.meta.files, result)

    def _flush_deletes(self, result: PollResult) -> None:
        for remote_id in self.ledger.pending_deletes():
            self._delete(remote_id, result)

    def _delete(self, remote_id: str, result: PollResult) -> None:
        crash_point("inbound_before_delete")
        try:
            self.source.delete(remote_id)
        except RejectedError as exc:
            # Gone already (404) or refused for good: asking again will not change it.
            log.warning(
                "provider refused to delete a received document; it stays at the provider",
                provider=self.source.name,
                remote_id=remote_id,
                error=str(exc),
            )
        except TransientError as exc:
            log.warning(
                "could not delete a received document at the provider; trying again next poll",
                provider=self.source.name,
                remote_id=remote_id,
                error=str(exc),
            )
            return
        self.ledger.delete_done(remote_id, self.clock.time())
        result.count("deleted")
