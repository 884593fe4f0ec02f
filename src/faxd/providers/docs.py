"""Generic DOCS v2: a Sender (fax and Direct File Transfer) and an InboxSource.

Thin methods over `docs_wire` (pure request builders and parsers) and `http.call` (one
shared session, explicit timeouts, every failure as a faxd error)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
import structlog

from faxd import __version__
from faxd.clock import Clock, SystemClock
from faxd.core.preflight import DOCS_LIMITS
from faxd.errors import (
    AuthError,
    OutcomeUnknownError,
    ProviderError,
    RejectedError,
    TransientError,
)
from faxd.model import Accepted, Limits, OutgoingFile, ReceivedDocument, RemoteStatus, Submission
from faxd.providers import docs_wire as wire
from faxd.providers.http import BearerAuth, call, iter_body, make_session, read_json
from faxd.providers.multipart import MultipartBody
from faxd.settings import DocsProviderSettings

T = TypeVar("T")
log = structlog.get_logger("faxd.providers.docs")

USER_AGENT = f"faxd/{__version__} (Generic DOCS v2)"
# Our clock and the provider's may disagree; a lookup window is widened by this much.
CLOCK_SKEW = timedelta(minutes=2)
# A window this narrow that still returns a full page cannot be split any further.
_MIN_WINDOW = timedelta(seconds=1)


class DocsProvider:
    """Generic DOCS v2 as both a Sender and an InboxSource."""

    supports_dft = True
    page_limit = wire.PAGE_LIMIT

    def __init__(
        self,
        settings: DocsProviderSettings,
        *,
        session: requests.Session | None = None,
        clock: Clock | None = None,
        limits: Limits = DOCS_LIMITS,
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
        # Passed with every request, so an injected session authenticates too (NOTES row 3).
        self._auth = BearerAuth(settings.api_key)
        self._owns_session = session is None
        self._session = session or make_session(settings.ca_bundle, USER_AGENT)
        self._clock: Clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"DocsProvider({self.name!r}, {self._base!r})"

    # --- Sender -----------------------------------------------------------------------------

    def prepare(self, files: Sequence[OutgoingFile], workdir: Path) -> tuple[OutgoingFile, ...]:
        """Generic DOCS takes every format preflight lets through as it is."""
        return tuple(files)

    def check_dft(self, number: str) -> bool:
        what = f"{self.name}: Direct File Transfer check for {number}"
        response = self._call(
            "POST", wire.CHECK_DFT, what, idempotent=True, json=wire.check_dft_body(number)
        )
        return self._parsed(
            wire.parse_check_dft, read_json(response, what=what, idempotent=True), what
        )

    def submit(self, submission: Submission) -> Accepted:
        what = f"{self.name}: upload of {_names(submission)} to {submission.recipient}"
        try:
            body = MultipartBody(wire.send_fields(submission), wire.send_files(submission))
        except OSError as exc:
            raise RejectedError(
                f"{what}: a file could not be read ({exc.strerror or exc}).",
                "Check that the document is still in place and readable by faxd.",
            ) from None
        failure: OSError | None = None
        with body:
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
        self, submission: Submission, sent_after: datetime, exclude: frozenset[str]
    ) -> Accepted | None:
        """Find a lost upload in a date-range listing: the same sender, recipient and file
        names, a faxId faxd does not know yet; the earliest such document wins."""
        start = sent_after - CLOCK_SKEW
        end = self._clock.now() + CLOCK_SKEW
        names = [f.name for f in submission.files]
        try:
            documents = self._list_all(start, end)
        except AuthError:
            raise
        except ProviderError as exc:
            raise TransientError(
                f"{self.name}: could not look up whether the upload to {submission.recipient} "
                f"was accepted ({exc.message})",
                "faxd asks again later.",
                retry_after=exc.retry_after if isinstance(exc, TransientError) else None,
            ) from None
        candidates = [
            d
            for d in documents
            if d.remote_id not in exclude
            and _same_number(d.recipient, submission.recipient)
            and _same_number(d.sender, submission.sender)
            and wire.names_match(d, names)
        ]
        if not candidates:
            return None
        found = min(candidates, key=lambda d: d.time)
        return Accepted(remote_id=found.remote_id, method=wire.method_of(found))

    def cleanup(self, remote_id: str) -> None:
        """Nothing to do: Generic DOCS keeps metadata, and deleting the content of a sent
        document is not faxd's call."""

    # --- InboxSource ------------------------------------------------------------------------

    def list_received(self, start: datetime, end: datetime) -> list[ReceivedDocument]:
        """One date-range Retrieve (at most `page_limit` documents; the caller splits).

        It lists our own outbound transmissions too (NOTES row 7): the caller filters."""
        what = f"{self.name}: listing of documents from {start.isoformat()} to {end.isoformat()}"
        response = self._call(
            "POST", wire.RETRIEVE, what, idempotent=True, json=wire.range_body(start, end, self._tz)
        )
        data = read_json(response, what=what, idempotent=True)
        return self._parsed(lambda d: wire.parse_documents(d, self._tz), data, what)

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
        """Remove a document's file content; a 404 means it is already gone (NOTES row 10)."""
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
    ) -> requests.Response:
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

    def _list_all(self, start: datetime, end: datetime) -> list[ReceivedDocument]:
        """Every document in [start, end], splitting windows that return a full page."""
        documents = self.list_received(start, end)
        if len(documents) < self.page_limit or end - start <= _MIN_WINDOW:
            return documents
        middle = start + (end - start) / 2
        seen: dict[str, ReceivedDocument] = {}
        # Both halves include the middle second: a document there may come back twice.
        for document in self._list_all(start, middle) + self._list_all(middle, end):
            seen.setdefault(document.remote_id, document)
        return list(seen.values())

    def _parsed(self, parse: Callable[[Any], T], data: Any, what: str) -> T:
        try:
            return parse(data)
        except wire.WireError as exc:
            raise TransientError(
                f"{what}: the provider's answer was not understood ({exc}).",
                "faxd asks again later; if this persists, the API may have changed.",
            ) from None


def _names(submission: Submission) -> str:
    names = [f.name for f in submission.files]
    if len(names) <= 2:
        return " and ".join(names) or "no files"
    return f"{names[0]} and {len(names) - 1} more files"


def _digits(number: str) -> str:
    digits = "".join(c for c in number if c.isdigit())
    # "+46…" and "0046…" are the same number.
    return digits[2:] if number.strip().startswith("00") else digits


def _same_number(a: str, b: str) -> bool:
    return bool(a) and _digits(a) == _digits(b)
