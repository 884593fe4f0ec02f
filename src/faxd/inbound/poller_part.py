"""What the parts of the inbox poller split into modules of their own (poller_cycle,
poller_routing, poller_delivery, poller_undelivered) share of
faxd.inbound.poller.InboxPoller, which they are mixed into: its state (set up by
InboxPoller.__init__) and the methods one part calls of another."""

from __future__ import annotations

import threading
from collections.abc import Callable, Container
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from faxd.clock import Clock
from faxd.core.received_meta import ReceivedMeta
from faxd.host.inbox_folder import InboxFolder
from faxd.inbound.inbox_claim import InboxClaim
from faxd.inbound.inbox_presence import InboxPresence
from faxd.inbound.poller_result import PollResult
from faxd.model import ReceivedDocument, ReceivedFile
from faxd.providers.base import InboxSource
from faxd.settings import InboxSettings, RouteRule
from faxd.store.inbox_ledger import InboundRow, InboxLedger
from faxd.store.journal import Journal


class PollerPart:
    if TYPE_CHECKING:  # InboxPoller's own, see faxd.inbound.poller.InboxPoller
        settings: InboxSettings
        source: InboxSource
        ledger: InboxLedger
        _journal: Journal
        clock: Clock
        timezone: tzinfo
        overlap: timedelta
        max_file_size: int
        workers: int
        _outbound_ids: Callable[[], Container[str]]
        _numbers: frozenset[str]
        _routes: dict[str, RouteRule]
        _folders: dict[Path, InboxFolder]
        _folders_lock: threading.Lock
        _presence: InboxPresence
        _claim: InboxClaim
        _recovered: bool
        _warned_no_numbers: bool
        _stop: threading.Event | None
        _told: set[str]

        # faxd.inbound.poller_cycle
        def _stopping(self) -> bool: ...

        # faxd.inbound.poller_routing
        def _is_ours_to_receive(
            self, doc: ReceivedDocument, outbound: Container[str], result: PollResult
        ) -> bool: ...

        def _our_recipient(self, doc: ReceivedDocument) -> str | None: ...

        def _is_ready(self, doc: ReceivedDocument, result: PollResult) -> bool: ...

        def _route_of(self, recipient: str | None, sender: str | None) -> RouteRule | None: ...

        def _folder_for(self, doc: ReceivedDocument) -> InboxFolder: ...

        def _folder(self, path: Path) -> InboxFolder: ...

        def _may_make(self, root: Path) -> bool: ...

        def _check_folders_there(self) -> None: ...

        def _check_on_its_disk(self, path: Path, root: Path) -> None: ...

        # faxd.inbound.poller_delivery
        def _meta(
            self, doc: ReceivedDocument, item: ReceivedFile, original: str
        ) -> ReceivedMeta: ...

        def _download(
            self, doc: ReceivedDocument, index: int, item: ReceivedFile, result: PollResult
        ) -> bool: ...

        def _finish_in_place(self, row: InboundRow, files: int, result: PollResult) -> bool: ...

        def _recover(self, result: PollResult) -> None: ...

        def _flush_deletes(self, result: PollResult) -> None: ...

        # faxd.inbound.poller_undelivered
        def _retry_later(
            self,
            doc: ReceivedDocument,
            item: ReceivedFile,
            where: str,
            reason: str,
            result: PollResult,
            *,
            say: bool,
            event: str = ...,
        ) -> bool: ...

        def _missing(
            self,
            doc: ReceivedDocument,
            item: ReceivedFile,
            where: str,
            reason: str,
            result: PollResult,
        ) -> bool: ...

        def _give_up(
            self,
            doc: ReceivedDocument,
            item: ReceivedFile,
            where: str,
            reason: str,
            result: PollResult,
        ) -> bool: ...

        def _keep_if_given_up(self, remote_id: str, files: int) -> None: ...
