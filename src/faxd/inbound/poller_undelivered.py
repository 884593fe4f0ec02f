"""A received file not delivered on this poll: cut off or answered with a server error
(tried again on a later poll), refused or unusable (tried again, then given up), too large
(given up); a document with a file given up stays at the provider even with
delete_after_download (mixed into faxd.inbound.poller.InboxPoller)."""

from __future__ import annotations

import structlog

from faxd.inbound.poller_delivery import original_name
from faxd.inbound.poller_part import PollerPart
from faxd.inbound.poller_result import PollResult
from faxd.model import ReceivedDocument, ReceivedFile

log = structlog.get_logger("faxd.inbound.poller")

# A listed file the provider refuses to hand out may simply not be ready yet: try it on
# this many cycles before giving it up (and letting the watermark move past it).
MAX_MISSING_ATTEMPTS = 3
_CUT_OFF = (
    "received file downloads too slowly or breaks off; stopped it so the other documents go"
    " on, and trying again on the next poll"
)


class UndeliveredFiles(PollerPart):
    """Retries and give-ups (mixed into faxd.inbound.poller.InboxPoller)."""

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
