"""One poll cycle: the folders checked, a first cycle's recovery, pending deletes, then the
window since the watermark listed (split where a listing fills a page) and every listed
document handed to the workers; the watermark follows windows that are done. Windows that
stay cut off at the page limit are remembered and listed again on later polls (mixed into
faxd.inbound.poller.InboxPoller)."""

from __future__ import annotations

from collections.abc import Container
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import structlog

from faxd.core.poll_windows import (
    ZONE_MARGIN,
    Unlistable,
    Window,
    poll_window,
    walk,
    watermark_after,
)
from faxd.errors import RejectedError
from faxd.inbound.poller_part import PollerPart
from faxd.inbound.poller_result import PollResult
from faxd.model import ReceivedDocument
from faxd.providers.base import unreadable_in
from faxd.store.inbox_ledger import DONE_STATES

log = structlog.get_logger("faxd.inbound.poller")

# Server errors for single files in one cycle before it is taken for an outage and ends.
FILE_ERRORS_PER_CYCLE = 3
# A window whose listing stays cut off is listed again on every poll for this long.
UNRESOLVED_KEEP = timedelta(days=7)


class PollCycle(PollerPart):
    """One cycle (mixed into faxd.inbound.poller.InboxPoller)."""

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
