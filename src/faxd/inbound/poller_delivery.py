"""One received file into its folder: downloaded into `.tmp/` within its deadline, checked,
its name planned in the ledger, renamed into place, its `.meta/` sidecar written, then
committed as delivered with its deliveries (mail, print...) and, with
delete_after_download, the provider's copy deleted. At a first cycle's start the folders
are prepared and deliveries a crash left between rename and commit are finished in place
(mixed into faxd.inbound.poller.InboxPoller)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

import structlog

from faxd.core import yaml_text
from faxd.core.names import first_free, inbox_name
from faxd.core.outbox_payload import DeliveryPayload, received_subject
from faxd.core.received_check import named_for_content, unusable_download
from faxd.core.received_meta import ReceivedMeta
from faxd.crash_points import crash_point
from faxd.errors import FaxdError, ProviderError, RejectedError, TransientError
from faxd.host.fsops import file_sha256
from faxd.host.inbox_folder import (
    STOPPING,
    DownloadStoppedError,
    FileTooLargeError,
    InboxFolder,
)
from faxd.inbound.poller_cycle import FILE_ERRORS_PER_CYCLE
from faxd.inbound.poller_part import PollerPart
from faxd.inbound.poller_result import InboxWriteError, PollResult
from faxd.model import ReceivedDocument, ReceivedFile
from faxd.notices.plan import inbound_deliveries
from faxd.store.inbox_ledger import InboundRow
from faxd.store.outbox import NewDelivery

log = structlog.get_logger("faxd.inbound.poller")

_FILE_ERROR = (
    "received file answered with a server error; the other documents go on, and it is"
    " tried again on the next poll"
)


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


class FileDelivery(PollerPart):
    """Delivering files (mixed into faxd.inbound.poller.InboxPoller)."""

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
        # Checked again here, not only when the cycle began: a share that goes away while
        # a backlog comes in would take the rest of it onto its bare mount point.
        self._check_on_its_disk(folder.root, folder.root)
        if folder.path != folder.root:
            self._check_on_its_disk(folder.path, folder.root)
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
        named = named_for_content(_decodable(original), bytes(sink.head))
        wanted = inbox_name(local_time, _decodable(doc.sender), named)
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
            self.settings, route, received_subject(remote_id, file_id), document, self.clock.time()
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
