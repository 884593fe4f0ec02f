"""Retarus Fax-for-Applications v1: pure request builders and response parsers.

Nothing here does I/O; `retarus.py` sends what these build and hands them what came back.
Field names follow the schemas of Retarus's REST API v1 (FaxJobRequest, FaxRecipient,
DocumentWithData, FaxReport …)."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from faxd.model import Method, RemoteStatus, Submission
from faxd.settings import RetarusOptions

MAX_NAME_LENGTH = 32
MAX_CSID_LENGTH = 20
# Both the "get all" and "delete all" report calls answer the oldest 1000 reports only
# (DOC-GETALL); more become visible only once older ones are deleted.
REPORT_LIST_LIMIT = 1000

# How long Retarus keeps a status report (DOC-GETALL): the reportPurgeTs faxd sends when
# a server wants one (see `build_job`), so the report lives as long as without it.
REPORT_RETENTION = timedelta(days=30)

STATUS_PENDING = "PENDING"
STATUS_OK = "OK"

_NAME_ALPHABET = re.compile(r"^[A-Za-z0-9._-]+$")
_OTHER_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# Letters NFKD does not decompose into ASCII, spelled the way people write them in file names.
_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "ae",
        "Œ": "OE",
        "œ": "oe",
        "Ø": "O",
        "ø": "o",
        "Đ": "D",
        "đ": "d",
        "Ł": "L",
        "ł": "l",
        "Þ": "Th",
        "þ": "th",
        "ı": "i",
    }
)
# Retarus decides the type by the extension and documents PDF, TIF, TXT and HTML; send the
# canonical spelling so a ".tiff" or ".htm" is not refused for its spelling alone.
_CANONICAL_EXTENSION = {"tiff": "tif", "htm": "html"}


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE))
    return "".join(c for c in decomposed if not unicodedata.combining(c) and c.isascii())


def _split(name: str) -> tuple[str, str]:
    """(stem, extension without dot, lower case and canonical)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not ext.isalnum() or not ext.isascii() or len(ext) > 8:
        return name, ""
    ext = ext.lower()
    return stem, _CANONICAL_EXTENSION.get(ext, ext)


def safe_document_name(name: str, taken: Iterable[str] = ()) -> str:
    """A Retarus document name: at most 32 chars of `a-zA-Z0-9-_.`, extension kept.

    Unique (case-insensitively) against `taken`. Applying it to its own result changes
    nothing, so `submit` can apply it again to names `prepare` already made safe."""
    used = {t.lower() for t in taken}
    stem, ext = _split(name)
    suffix = f".{ext}" if ext else ""
    stem = _OTHER_CHARS.sub("_", _ascii(stem)).strip("._")
    stem = re.sub(r"_+", "_", stem) or "document"
    room = MAX_NAME_LENGTH - len(suffix)
    base = stem[:room].rstrip("._") or "document"[:room]
    candidate = base + suffix
    counter = 2
    while candidate.lower() in used:
        tag = f"_{counter}"
        candidate = base[: room - len(tag)].rstrip("._") + tag + suffix
        counter += 1
    return candidate


def unique_document_names(names: Sequence[str]) -> list[str]:
    """Safe names for every document of one job, in order, none used twice."""
    result: list[str] = []
    for name in names:
        result.append(safe_document_name(name, result))
    return result


def detect_charset(chunks: Iterable[bytes]) -> str:
    """The charset value Retarus wants for a TXT document.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are recognised; anything else is
    legacy Western text: Windows-1252 when it uses the 0x80-0x9F range (curly quotes,
    the euro sign), which ISO-8859-1 leaves to control codes, else ISO-8859-1."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    first = True
    utf8 = True
    c1 = False
    for chunk in chunks:
        if first and chunk:
            first = False
            if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                return "UTF-16"
        if utf8:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
        if not c1:
            c1 = any(0x80 <= b <= 0x9F for b in chunk)
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if utf8:
        return "UTF-8"
    return "Windows-1252" if c1 else "ISO-8859-1"


# --- URLs ------------------------------------------------------------------------------


def _base(url: str, customer_number: str) -> str:
    return f"{url.rstrip('/')}/{quote(customer_number, safe='')}/fax"


def submit_url(ha_url: str, customer_number: str) -> str:
    return _base(ha_url, customer_number)


def report_url(dc_url: str, customer_number: str, job_id: str) -> str:
    return f"{_base(dc_url, customer_number)}/reports/{quote(job_id, safe='')}"


def reports_url(dc_url: str, customer_number: str) -> str:
    return f"{_base(dc_url, customer_number)}/reports"


# --- the job request -------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentHead:
    """A document of the job without its data, which is streamed separately."""

    name: str
    charset: str | None = None


def build_job(submission: Submission, *, purge_after: datetime | None = None) -> dict[str, Any]:
    """The FaxJobRequest for one submission, except `documents` (see retarus_body).

    Only what faxd sets is sent: the minimal job every Retarus SDK sends plus options.
    With `purge_after` (aware), also what the Swagger file marks required besides
    `recipients`: `renderingOptions` (its `paperFormat`, A4 unless set) and
    `statusReportOptions` with `reportPurgeTs` = `purge_after`."""
    opts = submission.retarus or RetarusOptions()
    recipient: dict[str, Any] = {"number": submission.recipient}
    if opts.recipient_properties:
        recipient["properties"] = [
            {"key": k, "value": v} for k, v in opts.recipient_properties.items()
        ]
    job: dict[str, Any] = {
        "reference": {"customerDefinedId": submission.key},
        "recipients": [recipient],
    }
    transport: dict[str, Any] = {}
    if submission.sender:
        transport["csid"] = submission.sender[:MAX_CSID_LENGTH]
    if opts.express is not None:
        transport["isExpress"] = opts.express
    if opts.blacklist is not None:
        transport["isBlacklistEnabled"] = opts.blacklist
    if transport:
        job["transportOptions"] = transport
    chosen = (opts.paper_format, opts.resolution, opts.coverpage_template, opts.header)
    if any(chosen) or purge_after is not None:
        rendering: dict[str, Any] = {"paperFormat": opts.paper_format or "A4"}
        if opts.resolution:
            rendering["resolution"] = opts.resolution
        if opts.coverpage_template:
            rendering["coverpageTemplate"] = opts.coverpage_template
        if opts.header:
            rendering["header"] = opts.header
        job["renderingOptions"] = rendering
    if purge_after is not None:
        job["statusReportOptions"] = {"reportPurgeTs": job_valid_time(purge_after)}
    meta: dict[str, Any] = {"customerReference": submission.reference or submission.job_id}
    if submission.valid_until is not None:
        # Without it Retarus keeps a job valid for a month, long after faxd gave up on it.
        meta["jobValid"] = {"end": job_valid_time(submission.valid_until)}
    job["meta"] = meta
    return job


# A 400 naming one of these refuses a job for lacking what the Swagger file requires.
_SWAGGER_FIELDS = re.compile(
    r"renderingOptions|statusReportOptions|reportPurgeTs|paperFormat", re.I
)


def wants_swagger_fields(message: str) -> bool:
    """Whether a 400 to a job without them asks for the fields only the Swagger file
    marks required (the reference pages and the SDKs send jobs without them)."""
    return bool(_SWAGGER_FIELDS.search(message))


def job_valid_time(moment: datetime) -> str:
    """A jobValid timestamp: UTC with a `Z`, since Retarus refuses one without a zone."""
    if moment.tzinfo is None:
        raise ValueError("jobValid times must be aware datetimes")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


# --- responses -------------------------------------------------------------------------


class WireError(ValueError):
    """A response body that does not have the documented shape."""


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise WireError(f"{what} is not a JSON object")
    return body


def parse_job_response(body: Any) -> str:
    """FaxJobResponse → jobId."""
    job_id = _object(body, "the job response").get("jobId")
    if not isinstance(job_id, str) or not job_id:
        raise WireError("the job response carries no jobId")
    return job_id


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def report_status(report: Any) -> RemoteStatus:
    """FaxReport → faxd's status, over every recipient of the job.

    Any recipient PENDING: not final. All OK: delivered. Otherwise failed, with the first
    failing recipient's status and reason (faxd sends one recipient per job)."""
    body = _object(report, "the fax report")
    job_id = _text(body.get("jobId"))
    if job_id is None:
        raise WireError("the fax report carries no jobId")
    recipients = body.get("recipientStatus")
    if not isinstance(recipients, list) or not recipients:
        # A report whose recipients are not listed yet is a job still being set up.
        return _pending(job_id)
    failed: tuple[str, str | None] | None = None
    pending = False
    for entry in recipients:
        item = _object(entry, "a recipient status")
        status = (_text(item.get("status")) or STATUS_PENDING).upper()
        reason = _text(item.get("reason"))
        if status == STATUS_PENDING:
            pending = True
        elif status != STATUS_OK and failed is None:
            failed = (status, reason)
    if pending:
        return _pending(job_id)
    if failed is not None:
        return RemoteStatus(
            job_id, failed[0], final=True, delivered=False, reason=failed[1], method=Method.FAX
        )
    first = _object(recipients[0], "a recipient status")
    reason = _text(first.get("reason"))
    return RemoteStatus(
        job_id, STATUS_OK, final=True, delivered=True, reason=reason, method=Method.FAX
    )


def _pending(job_id: str) -> RemoteStatus:
    return RemoteStatus(job_id, STATUS_PENDING, final=False, delivered=False, method=Method.FAX)


@dataclass(frozen=True)
class ReportEntry:
    job_id: str
    customer_defined_id: str | None
    status: RemoteStatus


def parse_reports(body: Any) -> list[ReportEntry]:
    """FaxReports `{"reports": [FaxReport…]}` → entries; a bare list is accepted too."""
    items = body if isinstance(body, list) else _object(body, "the report list").get("reports")
    if items is None:
        return []
    if not isinstance(items, list):
        raise WireError("the report list's 'reports' is not a list")
    entries = []
    for item in items:
        status = report_status(item)
        reference = _object(item, "a fax report").get("reference")
        defined = (
            _text(reference.get("customerDefinedId")) if isinstance(reference, Mapping) else None
        )
        entries.append(ReportEntry(status.remote_id, defined, status))
    return entries


# The Swagger file's 400 for a report DELETE reads "Status report not available"; the
# JobDeleteReport reason for the same is NOT_FOUND.
_NOT_HERE = re.compile(r"not[\s_-]+(?:available|found)|no\s+(?:status\s+)?report", re.I)


def delete_not_here(status_code: int, message: str) -> bool:
    """Whether an error answer to a report DELETE means "this data center has no such
    report", which is normal (a report lives at one data center only).

    404 always; 400 only when its words say so (the Swagger file answers 400 "Status
    report not available", the SDKs 404). Any other 400 is a request the data center
    refused: the caller logs it and tries again, or the reports pile up unseen."""
    if status_code == 404:
        return True
    return status_code == 400 and bool(_NOT_HERE.search(message))


@dataclass(frozen=True)
class DeleteResult:
    job_id: str
    deleted: bool
    reason: str | None = None


def parse_delete_report(body: Any) -> DeleteResult:
    """JobDeleteReport → result; an absent `deleted` means deleted (GO SDK's reading)."""
    item = _object(body, "the delete report")
    job_id = _text(item.get("jobId"))
    if job_id is None:
        raise WireError("the delete report carries no jobId")
    deleted = item.get("deleted", True)
    return DeleteResult(job_id, deleted is not False, _text(item.get("reason")))
