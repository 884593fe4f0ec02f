"""Generic DOCS v2: a Sender (fax and Direct File Transfer) and an InboxSource.

Thin methods over `docs_wire` (pure request builders and parsers) and `http.call` (one
shared session, explicit timeouts, every failure as a faxd error)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Container, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from faxd import __version__
from faxd.clock import Clock, SystemClock
from faxd.core.names import NAME_MAX, cut_keeping_extensions
from faxd.core.preflight import format_size
from faxd.errors import (
    AuthError,
    EndpointError,
    OutcomeUnknownError,
    ProviderError,
    RejectedError,
    TransientError,
)
from faxd.host import contained
from faxd.model import (
    Accepted,
    Limits,
    Method,
    OutgoingFile,
    ReceivedDocument,
    RemoteStatus,
    Submission,
)
from faxd.providers import docs_lookup as lookup
from faxd.providers import docs_wire as wire
from faxd.providers.base import DocumentList, Gate, open_gate
from faxd.providers.convert import image_to_png
from faxd.providers.docs_type import DOCS_LIMITS
from faxd.providers.http import (
    DEFAULT_CONNECTIONS,
    BearerAuth,
    Response,
    Session,
    call,
    iter_body,
    make_session,
    read_json,
    wrong_address,
)
from faxd.providers.multipart import MultipartBody
from faxd.settings import DocsProviderSettings

T = TypeVar("T")
log = structlog.get_logger("faxd.providers.docs")

USER_AGENT = f"faxd/{__version__} (Generic DOCS v2)"
# Our clock and the provider's may disagree; a lookup window is widened by this much.
CLOCK_SKEW = timedelta(minutes=2)
# The page does not say in which zone its offset-less times are: a lost-upload lookup
# covers every zone from UTC-14 to UTC+14 (see docs_wire.lookup_range_body).
SERVER_ZONE_MARGIN = timedelta(hours=14)
# A window this narrow that still returns a full page cannot be split any further.
_MIN_WINDOW = timedelta(seconds=1)
# Unreadable listed records already said in the log (per daemon run), at most this many:
# beyond it the oldest is forgotten (and said again should it still be listed).
_TOLD_MAX = 1000


class DocsProvider:
    """Generic DOCS v2 as both a Sender and an InboxSource."""

    supports_dft = True
    page_limit = wire.PAGE_LIMIT

    def __init__(
        self,
        settings: DocsProviderSettings,
        *,
        session: Session | None = None,
        clock: Clock | None = None,
        limits: Limits = DOCS_LIMITS,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        self.name = settings.name
        self.limits = limits
        try:
            self._tz = ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"Provider {settings.name}: unknown timezone {settings.timezone!r}."
            ) from None
        self._base = settings.base_url.rstrip("/")
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        # Passed with every request (the page's Retrieve, Delete and DFT examples show no
        # Authorization header; faxd sends it anyway), so an injected session authenticates too.
        self._auth = BearerAuth(settings.api_key)
        self._owns_session = session is None
        self._session = session or make_session(
            settings.ca_bundle, USER_AGENT, connections=connections
        )
        self._clock: Clock = clock or SystemClock()
        # Seen one of our own upload tokens come back: the service keeps upload names.
        self._names_kept = False
        self._told: OrderedDict[str, None] = OrderedDict()
        self._told_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DocsProvider({self.name!r}, {self._base!r})"

    # --- Sender -----------------------------------------------------------------------------

    def prepare(self, files: Sequence[OutgoingFile], workdir: Path) -> tuple[OutgoingFile, ...]:
        """Every format preflight lets through goes as it is, except PCX, which goes as a
        lossless PNG: the API validates the MIME type, and its table has none for PCX."""
        names = wire.upload_names([f.name for f in files])
        return tuple(
            item if name == item.name else self._as_png(item, name, workdir)
            for item, name in zip(files, names, strict=True)
        )

    def _as_png(self, item: OutgoingFile, name: str, workdir: Path) -> OutgoingFile:
        # Prepared again for every recipient and retry: a PNG newer than its source is
        # the same conversion (they are written atomically).
        # Cut to leave room for ".png" and the converter's temporary name (NAME_MAX).
        dest = workdir / f"{cut_keeping_extensions(item.path.name, NAME_MAX - 36)}.png"
        try:
            fresh = dest.is_file() and dest.stat().st_mtime_ns >= item.path.stat().st_mtime_ns
            if not fresh:
                workdir.mkdir(parents=True, exist_ok=True)
                image_to_png(item.path, dest)
            size = dest.stat().st_size
        except OSError as exc:
            raise TransientError(
                f"{item.name}: converting it to PNG in {workdir} failed ({exc.strerror or exc}).",
                "Check free space and permissions of faxd's state directory; faxd tries again"
                " later.",
            ) from None
        if size > self.limits.max_file_size:
            raise RejectedError(
                f"{item.name}: converted to PNG it is {format_size(size)}, more than the"
                f" {format_size(self.limits.max_file_size)} Generic DOCS takes per file.",
                "Save it as PDF or reduce its resolution, and send it again.",
            )
        return OutgoingFile(dest, name, "image/png", size)

    def check_dft(self, number: str) -> bool:
        what = f"{self.name}: Direct File Transfer check for {number}"
        response = self._call(
            "POST", wire.CHECK_DFT, what, idempotent=True, json=wire.check_dft_body(number)
        )
        data = read_json(response, what=what, idempotent=True)
        try:
            return wire.parse_check_dft(data)
        except wire.WireError as exc:
            problem = str(exc)
        # Not a failure worth retrying: the check is optional, and the engine faxes instead.
        raise RejectedError(f"{what}: the provider's answer was not understood ({problem}).")

    def submit(self, submission: Submission, gate: Gate = open_gate) -> Accepted:
        what = f"{self.name}: upload of {_names(submission)} to {submission.recipient}"
        try:
            body = MultipartBody(wire.send_fields(submission), wire.send_files(submission))
        except OSError as exc:
            raise RejectedError(
                f"{what}: a file could not be read ({exc.strerror or exc}).",
                "Check that the document is still in place and readable by faxd.",
            ) from None
        failure: OSError | None = None
        misrouted: RejectedError | None = None
        with body, gate():
            try:
                response = self._call(
                    "POST",
                    wire.SEND,
                    what,
                    idempotent=False,
                    data=body,
                    headers={"Content-Type": body.content_type},
                )
            except OutcomeUnknownError:
                if body.failed is None:
                    raise
                # Our own read failed mid-body: the provider saw fewer bytes than announced
                # and cannot have accepted the upload.
                failure = body.failed
            except RejectedError as exc:
                if not wrong_address(exc.status_code):
                    raise
                misrouted = exc
        if misrouted is not None:
            raise EndpointError(
                f"{misrouted.message} /Send is not there, so base_url does not point at the"
                " Generic DOCS API.",
                "Check base_url in the provider's configuration (the API page gives "
                "https://api.genericmobile.se/Docs/api/v2), then reload faxd (systemctl reload"
                " faxd); the documents wait in the queue.",
                status_code=misrouted.status_code,
            )
        if failure is not None:
            raise TransientError(
                f"{what}: a file changed while it was being sent ({failure}).",
                "faxd sends it again once the file is stable.",
            )
        return wire.parse_send(read_json(response, what=what, idempotent=False), what=what)

    def status(self, remote_id: str) -> RemoteStatus:
        what = f"{self.name}: status query for {remote_id}"
        response = self._call(
            "POST", wire.RETRIEVE, what, idempotent=True, json=wire.status_body(remote_id)
        )
        data = read_json(response, what=what, idempotent=True)
        status = self._parsed(lambda d: wire.parse_status(d, remote_id, self._tz), data, what)
        self._learn_names(data)
        if not wire.is_known_status(status.status):
            # Not final, so tracking goes on until status_timeout; the word is worth a look.
            log.warning(
                "unknown Generic DOCS status word; treating it as not final",
                provider=self.name,
                remote_id=remote_id,
                status=status.status,
            )
        return status

    def find_submission(
        self, submission: Submission, sent_after: datetime, exclude: Container[str]
    ) -> Accepted | None:
        """Find a lost upload in a date-range listing (how: see `docs_lookup`).

        The listing spans the server's possible zones: its offset-less times cannot narrow
        it, the document's sender, recipient, names and bytes do."""
        start = sent_after - CLOCK_SKEW
        end = self._clock.now() + CLOCK_SKEW
        wanted = lookup.Wanted(
            token=wire.upload_token(submission.key),
            sender=submission.sender,
            recipient=submission.recipient,
            file_count=len(submission.files),
        )
        what = f"{self.name}: could not look up whether the upload to {submission.recipient}"
        try:
            window = wire.lookup_range_body(start, end, SERVER_ZONE_MARGIN)
            listing = self._list_all(window["dateFrom"], window["dateTo"])
        except AuthError:
            raise
        except ProviderError as exc:
            raise TransientError(
                f"{what} was accepted ({exc.message})",
                "faxd asks again later.",
                retry_after=exc.retry_after if isinstance(exc, TransientError) else None,
                # Kept so a refusal (a 400 every time) is told from a hiccup.
                status_code=getattr(exc, "status_code", None),
            ) from None
        digests = _digests(submission.files)
        # Records that cannot be read are ruled out only by what can be read of them: one
        # that may be this upload makes the lookup ambiguous (docs_lookup rule 6).
        found, how = lookup.choose(
            listing.documents,
            wanted,
            exclude,
            lambda d: self._same_content(d, digests),
            names_kept=self._names_kept,
            unreadable=listing.unreadable,
        )
        if found is None:
            return None
        log.info(
            "lost upload identified",
            provider=self.name,
            remote_id=found.remote_id,
            transmission=submission.key,
            by=how,
        )
        return Accepted(remote_id=found.remote_id, method=wire.method_of(found))

    def _learn_names(self, data: Any) -> None:
        if self._names_kept:
            return
        try:
            documents = wire.parse_listing(data, self._tz).documents
        except wire.WireError:
            return
        self._names_kept = any(wire.name_tokens(d) for d in documents)

    def _same_content(self, document: ReceivedDocument, ours: list[tuple[str, int]]) -> bool | None:
        """Do the document's files hold our bytes? None when they cannot say (see
        `docs_lookup`): a fax is stored rendered, a file may be deleted."""
        if len(ours) != len(document.files):
            return None  # one of our files could not be read: nothing to compare with
        biggest = max((size for _, size in ours), default=0)
        theirs: list[tuple[str, int]] = []
        for item in document.files:
            sink = _HashSink(biggest)
            try:
                self.fetch(item.file_id, cast(BinaryIO, sink))
            except (ProviderError, _TooBig):
                if sink.too_big and wire.method_of(document) is Method.DFT:
                    return False
                return None
            theirs.append((sink.hexdigest(), sink.size))
        if sorted(theirs) == sorted(ours):
            return True
        return False if wire.method_of(document) is Method.DFT else None

    def cleanup(self, remote_id: str) -> None:
        """Nothing to do: Generic DOCS keeps metadata, and deleting the content of a sent
        document is not faxd's call."""

    # --- InboxSource ------------------------------------------------------------------------

    def list_received(
        self, start: datetime, end: datetime, *, fractions: bool = False
    ) -> list[ReceivedDocument]:
        """One date-range Retrieve (at most `page_limit` documents; the caller splits).
        `fractions`: send the bounds' fractions of a second (an overfull second split).

        It lists our own outbound transmissions too: the caller filters. A record that
        cannot be read is left out (said once in the log) and counted in `unreadable`: one
        broken record must not hold up every other received document."""
        what = f"{self.name}: listing of documents from {start.isoformat()} to {end.isoformat()}"
        body = wire.range_body(start, end, self._tz, fractions=fractions)
        response = self._call("POST", wire.RETRIEVE, what, idempotent=True, json=body)
        listing = self._listing(_range_answer(response, what), what)
        documents = DocumentList(listing.documents)
        documents.unreadable = len(listing.unreadable)
        return documents

    def fetch(self, file_id: str, dest: BinaryIO) -> str | None:
        """Stream a file into `dest`; the name from Content-Disposition, never safe as a path."""
        what = f"{self.name}: download of file {file_id}"
        response = self._call(
            "GET",
            wire.FILE.format(file_id=quote(file_id, safe="")),
            what,
            idempotent=True,
            stream=True,
            # Byte counts must match Content-Length to detect a cut-off download.
            headers={"Accept-Encoding": "identity"},
        )
        try:
            for chunk in iter_body(response, what=what):
                dest.write(chunk)
        finally:
            response.close()
        return wire.disposition_filename(response.headers.get("Content-Disposition"))

    def delete(self, remote_id: str) -> None:
        """Remove a document's file content; a 404 means it is already gone."""
        what = f"{self.name}: deletion of document {remote_id}"
        self._call(
            "DELETE",
            wire.DELETE,
            what,
            idempotent=True,
            accept=(404,),
            json=wire.delete_body(remote_id),
        )

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # --- internals --------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, what: str, *, idempotent: bool, **kwargs: Any
    ) -> Response:
        return call(
            self._session,
            method,
            self._base + path,
            timeout=self._timeout,
            idempotent=idempotent,
            what=what,
            auth=self._auth,
            **kwargs,
        )

    def _list_all(self, start: str, end: str) -> wire.Listing:
        """Every document whose faxTime reads within [start, end] (wall times as sent),
        and every record that could not be read, splitting windows that return a full page
        (unreadable records count towards it)."""
        what = f"{self.name}: listing of documents from {start} to {end}"
        response = self._call(
            "POST", wire.RETRIEVE, what, idempotent=True, json={"dateFrom": start, "dateTo": end}
        )
        listing = self._listing(_range_answer(response, what), what)
        low, high = datetime.fromisoformat(start), datetime.fromisoformat(end)
        if listing.records < self.page_limit or high - low <= _MIN_WINDOW:
            return listing
        middle = (low + (high - low) / 2).replace(microsecond=0).isoformat()
        seen: dict[str, ReceivedDocument] = {}
        broken: dict[str, wire.Unreadable] = {}
        # Both halves include the middle second: a document there may come back twice.
        for half in (self._list_all(start, middle), self._list_all(middle, end)):
            for document in half.documents:
                seen.setdefault(document.remote_id, document)
            for record in half.unreadable:
                broken.setdefault(record.key, record)
        return wire.Listing(list(seen.values()), list(broken.values()))

    def _listing(self, data: Any, what: str) -> wire.Listing:
        """A date-range answer read record by record; each unreadable one said once."""
        listing = self._parsed(lambda d: wire.parse_listing(d, self._tz), data, what)
        for record in listing.unreadable:
            if self._first_time(record.key):
                log.warning(
                    "a document in the provider's listing cannot be read and is left out; if it"
                    " was received for the office it is not in the inbox: look it up at the"
                    " provider (said once)",
                    provider=self.name,
                    remote_id=record.fax_id,
                    problem=record.problem,
                )
        return listing

    def _first_time(self, key: str) -> bool:
        """True the first time `key` is seen (among the last _TOLD_MAX keys)."""
        with self._told_lock:
            if key in self._told:
                self._told.move_to_end(key)
                return False
            self._told[key] = None
            if len(self._told) > _TOLD_MAX:
                self._told.popitem(last=False)
            return True

    def _parsed(self, parse: Callable[[Any], T], data: Any, what: str) -> T:
        try:
            return parse(data)
        except wire.WireError as exc:
            raise TransientError(
                f"{what}: the provider's answer was not understood ({exc}).",
                "faxd asks again later; if this persists, the API may have changed.",
            ) from None


class _TooBig(Exception):
    pass


class _HashSink:
    """A write-only stream that hashes what it gets and stops past `limit` bytes: a file
    larger than all of ours cannot be one of them, and need not be downloaded."""

    def __init__(self, limit: int) -> None:
        self._hash = hashlib.sha256()
        self._limit = limit
        self.size = 0
        self.too_big = False

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self._limit:
            self.too_big = True
            raise _TooBig
        self._hash.update(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _range_answer(response: Response, what: str) -> Any:
    """The body of a date-range Retrieve. The page's code table has 204 No Content for a
    request that succeeds with nothing to return, and does not say what an empty range
    answers: 204 is read as no documents, not as an answer that cannot be understood
    (which would hold up the inbox for good)."""
    if response.status_code == 204:
        response.close()
        return []
    return read_json(response, what=what, idempotent=True)


def _digests(files: Sequence[OutgoingFile]) -> list[tuple[str, int]]:
    """sha256 and size of each file as uploaded; unreadable files are left out (then no
    listed document matches by content, and names or the unproven rule decide)."""
    found: list[tuple[str, int]] = []
    for item in files:
        digest = hashlib.sha256()
        size = 0
        try:
            with contained.opened(item.path) as stream:
                while chunk := stream.read(1 << 16):
                    digest.update(chunk)
                    size += len(chunk)
        except OSError:
            continue
        found.append((digest.hexdigest(), size))
    return found


def _names(submission: Submission) -> str:
    names = [f.name for f in submission.files]
    if len(names) <= 2:
        return " and ".join(names) or "no files"
    return f"{names[0]} and {len(names) - 1} more files"
