"""Retarus Fax-for-Applications v1: outbound fax (a Sender; the API has no inbound).

Jobs go to the region's HA URL; a job's report then lives in one data center only, so
reports are read and deleted at every data-center URL and never at the HA URL, and a
404 from one data center is normal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from faxd import __version__
from faxd.clock import Clock, SystemClock
from faxd.core.names import NAME_MAX, cut_keeping_extensions
from faxd.core.preflight import format_size
from faxd.errors import (
    AskAgainError,
    AuthError,
    EndpointError,
    OutcomeUnknownError,
    ProviderError,
    RejectedError,
    TransientError,
)
from faxd.host import contained
from faxd.model import Accepted, Limits, Method, OutgoingFile, RemoteStatus, Submission
from faxd.providers import http
from faxd.providers.base import Gate, open_gate
from faxd.providers.convert import (
    IMAGE_EXTENSIONS,
    OFFICE_EXTENSIONS,
    OFFICE_TIMEOUT,
    extension,
    image_to_pdf,
    office_to_pdf,
)
from faxd.providers.retarus_body import BodyDocument, StreamedJobBody
from faxd.providers.retarus_type import RETARUS_LIMITS
from faxd.providers.retarus_wire import (
    REPORT_LIST_LIMIT,
    REPORT_RETENTION,
    STATUS_PENDING,
    DeleteResult,
    DocumentHead,
    ReportEntry,
    WireError,
    build_job,
    delete_not_here,
    detect_charset,
    parse_delete_report,
    parse_job_response,
    parse_reports,
    report_status,
    report_url,
    reports_url,
    submit_url,
    unique_document_names,
    wants_swagger_fields,
)
from faxd.settings import RetarusProviderSettings

# What Retarus renders itself (PDF, TIF, TXT, HTML); everything else is converted first.
NATIVE_EXTENSIONS = frozenset({"pdf", "tif", "tiff", "txt", "html", "htm"})
_NOT_FOUND = (404,)
# A DELETE of a report that is not at this data center answers 400 "Status report not
# available" in the Swagger file, 404 in the SDKs; delete_not_here tells a 400 that
# means it from one that refuses the request.
_DELETE_NOT_FOUND = (400, 404)
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
_READ_CHUNK = 64 * 1024
log = structlog.get_logger("faxd.providers.retarus")


def _file_chunks(path: Path) -> Iterator[bytes]:
    with contained.opened(path) as stream:
        while chunk := stream.read(_READ_CHUNK):
            yield chunk


class RetarusProvider:
    """Sends faxes through Retarus; one job per (document, recipient)."""

    supports_dft = False

    def __init__(
        self,
        settings: RetarusProviderSettings,
        *,
        session: http.Session | None = None,
        clock: Clock | None = None,
        workdir: Path | None = None,
        limits: Limits | None = None,
        office_timeout: float = OFFICE_TIMEOUT,
        connections: int = http.DEFAULT_CONNECTIONS,
    ) -> None:
        self.name = settings.name
        self._settings = settings
        self._auth = http.BasicAuth(settings.username, settings.password)
        self._own_session = session is None
        if session is None:
            session = http.make_session(
                settings.ca_bundle,
                f"faxd/{__version__}",
                auth=self._auth,
                connections=connections,
            )
        self._session = session
        self._clock: Clock = clock or SystemClock()
        # A LibreOffice profile kept between conversions: creating one costs seconds.
        self._profile_dir = workdir / "libreoffice-profile" if workdir is not None else None
        # Two LibreOffice processes on one profile hand work to each other or fail.
        self._office_lock = threading.Lock()
        self._office_timeout = office_timeout
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        self.limits = limits if limits is not None else RETARUS_LIMITS
        # Set once a server refused a job for lacking what only the Swagger file marks
        # required: every later job carries those fields from the start.
        self._swagger_fields = False

    # --- Sender --------------------------------------------------------------------------

    def prepare(self, files: Sequence[OutgoingFile], workdir: Path) -> tuple[OutgoingFile, ...]:
        """PDF, TIF, TXT and HTML as they are; images and office documents as PDF."""
        prepared: list[OutgoingFile] = []
        for item in files:
            ext = extension(Path(item.name)) or extension(item.path)
            if ext in NATIVE_EXTENSIONS:
                prepared.append(item)
            elif ext in IMAGE_EXTENSIONS or ext in OFFICE_EXTENSIONS:
                prepared.append(self._converted(item, self._convert(item, ext, workdir)))
            else:
                raise RejectedError(
                    f"{item.name}: Retarus does not take .{ext or '(no extension)'} files"
                    " and faxd cannot convert them.",
                    "Send PDF, TIFF, TXT or HTML, an image, or an office document.",
                )
        names = unique_document_names([p.name for p in prepared])
        return tuple(
            p if p.name == n else OutgoingFile(p.path, n, p.mime, p.size)
            for p, n in zip(prepared, names, strict=True)
        )

    def _convert(self, item: OutgoingFile, ext: str, workdir: Path) -> Path:
        """The PDF made from `item` in `workdir`, reused when an earlier attempt made it.

        The engine prepares again for every recipient and every retry; a PDF newer than
        its source is the same conversion, and conversions are written atomically."""
        dest = workdir / f"{cut_keeping_extensions(item.path.name, NAME_MAX - 36)}.pdf"
        try:
            if dest.is_file() and dest.stat().st_mtime_ns >= item.path.stat().st_mtime_ns:
                return dest
            workdir.mkdir(parents=True, exist_ok=True)
            if ext in IMAGE_EXTENSIONS:
                image_to_pdf(item.path, dest)
            else:
                with self._office_lock:
                    office_to_pdf(
                        item.path,
                        dest,
                        profile_dir=self._profile_dir,
                        timeout=self._office_timeout,
                    )
        except OSError as exc:
            raise TransientError(
                f"{item.name}: converting it to PDF in {workdir} failed ({exc.strerror or exc}).",
                "Check free space and permissions of faxd's state directory; faxd tries again"
                " later.",
            ) from None
        return dest

    def _converted(self, original: OutgoingFile, pdf: Path) -> OutgoingFile:
        size = pdf.stat().st_size
        if size > self.limits.max_file_size:
            raise RejectedError(
                f"{original.name}: converted to PDF it is {format_size(size)}, more than the"
                f" {format_size(self.limits.max_file_size)} Retarus takes per file.",
                "Reduce the resolution or page count and send it again.",
            )
        return OutgoingFile(pdf, f"{Path(original.name).stem}.pdf", "application/pdf", size)

    def check_dft(self, number: str) -> bool:
        return False

    def submit(self, submission: Submission, gate: Gate = open_gate) -> Accepted:
        what = f"Retarus fax job {submission.key} to {submission.recipient}"
        body = self._body(submission, what, swagger_fields=self._swagger_fields)
        misrouted: RejectedError | None = None
        with gate():
            started = self._clock.now()
            try:
                response = self._post_job(submission, body, what)
            except RejectedError as exc:
                if not http.wrong_address(exc.status_code):
                    raise
                misrouted = exc
            if misrouted is None and response.status_code == 409:
                response.close()
                # Its listings are requests like any other: inside the gate.
                return self._reconcile_duplicate(submission, started, what)
        if misrouted is not None:
            raise EndpointError(
                f"{misrouted.message} The job address is not there, so the submit URL or"
                " the customer number is wrong.",
                "Check data_center (or submit_url) and customer_number in the provider's"
                " configuration, then reload faxd (systemctl reload faxd); the documents"
                " wait in the queue.",
                status_code=misrouted.status_code,
            )
        data = http.read_json(response, what=what, idempotent=False)
        try:
            job_id = parse_job_response(data)
        except WireError:
            raise OutcomeUnknownError(
                f"{what}: Retarus answered HTTP {response.status_code} without a job id.",
                "faxd looks the job up by its reference before sending it again.",
            ) from None
        return Accepted(job_id, Method.FAX)

    def _body(self, submission: Submission, what: str, *, swagger_fields: bool) -> StreamedJobBody:
        purge_after = self._clock.now() + REPORT_RETENTION if swagger_fields else None
        try:
            return StreamedJobBody(
                build_job(submission, purge_after=purge_after), self._documents(submission)
            )
        except OSError as exc:
            raise RejectedError(
                f"{what}: a document could not be read ({exc.strerror or exc}: {exc.filename}).",
                "Check that the file still exists and is readable, then send it again.",
            ) from None

    def _post_job(self, submission: Submission, body: StreamedJobBody, what: str) -> http.Response:
        """POST the job; once more with the Swagger file's required fields when a 400 asks
        for them (a 400 means the job was not taken, so sending it again is safe)."""
        try:
            return self._post(body, what)
        except RejectedError as exc:
            retry = (
                not self._swagger_fields
                and exc.status_code == 400
                and wants_swagger_fields(exc.message)
            )
            if not retry:
                raise
        log.info(
            "Retarus asks for the fields its Swagger file marks required; jobs carry them now",
            provider=self.name,
        )
        self._swagger_fields = True
        return self._post(self._body(submission, what, swagger_fields=True), what)

    def _post(self, body: StreamedJobBody, what: str) -> http.Response:
        return http.call(
            self._session,
            "POST",
            submit_url(self._settings.submit_url, self._settings.customer_number),
            timeout=self._timeout,
            idempotent=False,
            what=what,
            accept=(409,),
            data=body,
            headers=_JSON,
            auth=self._auth,
        )

    def _documents(self, submission: Submission) -> list[BodyDocument]:
        names = unique_document_names([f.name for f in submission.files])
        documents = []
        for item, name in zip(submission.files, names, strict=True):
            ext = extension(Path(name))
            if ext not in NATIVE_EXTENSIONS:
                raise RejectedError(
                    f"{item.name}: Retarus does not take .{ext} files and it was not converted.",
                    "This is a bug in faxd: prepare() must run before submit(); please report it.",
                )
            charset = detect_charset(_file_chunks(item.path)) if ext == "txt" else None
            documents.append(BodyDocument(DocumentHead(name, charset), item.path))
        return documents

    def _reconcile_duplicate(
        self, submission: Submission, started: datetime, what: str
    ) -> Accepted:
        """409: Retarus already has this job, so an earlier attempt got through."""
        try:
            found = self.find_submission(submission, started, frozenset())
        except AskAgainError:
            found = None
        if found is not None:
            return found
        raise OutcomeUnknownError(
            f"{what}: Retarus says the job already exists (HTTP 409), but no data center"
            " lists its report yet.",
            "faxd looks it up again before sending anything.",
        )

    def status(self, remote_id: str) -> RemoteStatus:
        what = f"Retarus status of job {remote_id}"
        for body in self._at_each_datacenter(
            lambda dc: report_url(dc, self._settings.customer_number, remote_id), what
        ):
            try:
                status = report_status(body)
            except WireError as exc:
                raise TransientError(
                    f"{what}: the report could not be read ({exc}).", "faxd asks again later."
                ) from None
            if not status.about(remote_id):
                # Never another job's result for this one: "delivered" must be this fax's.
                raise TransientError(
                    f"{what}: the data center answered with the report of job"
                    f" {status.remote_id} instead.",
                    "faxd asks again later.",
                )
            return status
        # No data center has it (yet): reports appear a little after the job is accepted.
        return RemoteStatus(
            remote_id,
            STATUS_PENDING,
            final=False,
            delivered=False,
            reason="no data center has a report for this job yet",
            method=Method.FAX,
        )

    def find_submission(
        self, submission: Submission, sent_after: datetime, exclude: Container[str]
    ) -> Accepted | None:
        """Find the job by reference.customerDefinedId (= submission.key) in every DC's list.

        Reports carry no submission time, so `sent_after` cannot narrow the search; the
        key is unique per transmission, which is enough."""
        listing = self._all_reports(f"Retarus lookup of job {submission.key}")
        for entry in listing.entries:
            if entry.customer_defined_id == submission.key and entry.job_id not in exclude:
                return Accepted(entry.job_id, Method.FAX)
        # "Not found" only when every data center showed its whole list.
        if listing.failure is not None:
            raise listing.failure
        if listing.truncated:
            raise TransientError(
                f"Retarus lookup of job {submission.key}: a data center lists"
                f" {REPORT_LIST_LIMIT} reports, its limit, so the job may be among newer ones"
                " it does not show.",
                "faxd deletes the reports of jobs it finished; delete old reports of other"
                " programs using this Retarus login, and faxd asks again later.",
            )
        return None

    def cleanup(self, remote_id: str) -> None:
        """Delete the job's report at every data center (where it is not, 404 or a 400 "not
        available" is normal); a failure is raised when no data center deleted it."""
        what = f"Retarus deletion of the report of job {remote_id}"
        deleted = False
        failure: ProviderError | None = None
        for dc in self._settings.datacenter_urls:
            try:
                response = http.call(
                    self._session,
                    "DELETE",
                    report_url(dc, self._settings.customer_number, remote_id),
                    timeout=self._timeout,
                    idempotent=True,
                    what=what,
                    accept=_DELETE_NOT_FOUND,
                    headers={"Accept": "application/json"},
                    auth=self._auth,
                )
            except AuthError:
                raise
            except ProviderError as exc:
                failure = failure or exc
                continue
            if response.status_code in _DELETE_NOT_FOUND:
                message = http.provider_message(response)
                response.close()
                if not delete_not_here(response.status_code, message):
                    failure = failure or TransientError(
                        f"{what}: the data center refused it with HTTP {response.status_code}"
                        f' ("{message}").',
                        "faxd tries again at its next report sweep.",
                        status_code=response.status_code,
                    )
                continue
            result = _delete_result(response, remote_id)
            if result.deleted:
                deleted = True
            elif result.reason != "NOT_FOUND":
                failure = failure or TransientError(
                    f"{what}: the data center could not delete it ({result.reason}).",
                    "faxd tries again later.",
                )
        if failure is not None and not deleted:
            raise failure

    def sweep(self) -> list[tuple[str, RemoteStatus]]:
        """Every finished job any data center reports: (customerDefinedId or jobId, status).

        Lets the engine catch a result it missed. Data centers that fail are skipped unless
        all of them do."""
        listing = self._all_reports("Retarus report sweep")
        if listing.failure is not None and listing.answered == 0:
            raise listing.failure
        return [
            (entry.customer_defined_id or entry.job_id, entry.status)
            for entry in listing.entries
            if entry.status.final
        ]

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    # --- data centers ----------------------------------------------------------------------

    def _get(self, url: str, what: str, accept: tuple[int, ...]) -> http.Response:
        return http.call(
            self._session,
            "GET",
            url,
            timeout=self._timeout,
            idempotent=True,
            what=what,
            accept=accept,
            headers={"Accept": "application/json"},
            auth=self._auth,
        )

    def _at_each_datacenter(self, url_for: Callable[[str], str], what: str) -> Iterator[Any]:
        """The JSON body from each data center that has it; 404s skipped.

        If none had it and one failed, that failure is raised: "not found" would be a guess."""
        failure: ProviderError | None = None
        for dc in self._settings.datacenter_urls:
            try:
                response = self._get(url_for(dc), what, _NOT_FOUND)
            except AuthError:
                raise
            except ProviderError as exc:
                failure = failure or exc
                continue
            if response.status_code in _NOT_FOUND:
                response.close()
                continue
            yield http.read_json(response, what=what, idempotent=True)
        if failure is not None:
            raise failure

    def _all_reports(self, what: str) -> _Listing:
        listing = _Listing()
        for dc in self._settings.datacenter_urls:
            try:
                response = self._get(
                    reports_url(dc, self._settings.customer_number), what, _NOT_FOUND
                )
            except AuthError:
                raise
            except ProviderError as exc:
                listing.failure = listing.failure or exc
                continue
            listing.answered += 1
            if response.status_code in _NOT_FOUND:  # GO SDK: 404 = no reports here
                response.close()
                continue
            try:
                found = parse_reports(http.read_json(response, what=what, idempotent=True))
            except TransientError as exc:
                listing.failure = listing.failure or exc
                continue
            except WireError as exc:
                listing.failure = listing.failure or TransientError(
                    f"{what}: the report list could not be read ({exc}).",
                    "faxd asks again later.",
                )
                continue
            listing.entries.extend(found)
            # Only the oldest REPORT_LIST_LIMIT reports are listed per call (DOC-GETALL).
            listing.truncated = listing.truncated or len(found) >= REPORT_LIST_LIMIT
        return listing


@dataclass
class _Listing:
    """What the data centers' report lists showed, and whether any could not be read."""

    entries: list[ReportEntry] = field(default_factory=list)
    failure: ProviderError | None = None
    answered: int = 0
    truncated: bool = False


def _delete_result(response: http.Response, remote_id: str) -> DeleteResult:
    try:
        return parse_delete_report(response.json())
    except (ValueError, WireError):
        # A 200 without a readable body still means the report was there and is gone.
        return DeleteResult(remote_id, deleted=True)
    finally:
        response.close()
