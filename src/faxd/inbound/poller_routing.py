"""Which listed documents are ours to receive (not sent by faxd, for one of our numbers) and
ready (their files there), the route each takes and the folder it goes to, and the check
that every configured folder is there, on the file system faxd delivered into, and the inbox
claimed by this faxd, before a cycle lists anything and before each download (mixed into
faxd.inbound.poller.InboxPoller)."""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path

import structlog

from faxd.core.number_match import comparable_number
from faxd.host.inbox_folder import InboxFolder, missing_text
from faxd.inbound.inbox_presence import moved_hint
from faxd.inbound.poller_part import PollerPart
from faxd.inbound.poller_result import InboxWriteError, PollResult
from faxd.model import ReceivedDocument
from faxd.settings import RouteRule

log = structlog.get_logger("faxd.inbound.poller")

# A document in one of these states has no files to take yet: listed again later.
NOT_READY_STATUSES = frozenset({"sending"})
# A document that failed at the provider may come without files, and none will come.
FAILED_STATUSES = frozenset({"failed"})


class InboxRouting(PollerPart):
    """Filtering and routing (mixed into faxd.inbound.poller.InboxPoller)."""

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
        """End the cycle before anything is listed while a folder is away (missing, or the
        bare mount point of its share): its documents wait at the provider (the watermark
        stays), none is delivered out of sight."""
        for root in sorted(self._configured_roots()):
            if not root.is_dir() and not self._may_make(root):
                if root == self.settings.path:
                    self._claim.away()
                raise InboxWriteError(
                    f"Received documents are not delivered: {missing_text(root)}.",
                    "Mount the share or put the folder back; faxd delivers into it by itself.",
                )
        for path in sorted({self.settings.path, *self.settings.routes.values()}):
            self._check_on_its_disk(path, self._root_of(path))

    def _check_on_its_disk(self, path: Path, root: Path) -> None:
        """InboxWriteError when `path` is no longer on the file system faxd delivered into,
        or is the inbox and another faxd holds it. Only the configured root is followed
        through a link, as it is opened."""
        moved = self._presence.moved_away(path, follow=path == root)
        inbox = path == self.settings.path
        if moved is not None:
            if inbox:
                self._claim.away()
            raise InboxWriteError(
                f"Received documents are not delivered: {moved}.", moved_hint(path)
            )
        device = self._presence.device(path)
        if inbox and device is not None and (held := self._claim.check(device)) is not None:
            raise InboxWriteError(
                f"Received documents are not delivered, and wait at the provider: {held}",
                "Stop one of the two (on its host: systemctl stop faxd, or end its pid); "
                "faxd delivers them by itself once the folder is its own.",
            )

    def _root_of(self, path: Path) -> Path:
        """The configured folder `path` is opened from: the inbox for a route's folder
        inside it (staff may write there, and swap the route's folder for a link), else
        the folder itself."""
        inbox = self.settings.path
        return inbox if path.is_relative_to(inbox) else path
