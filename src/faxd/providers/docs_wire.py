"""Generic DOCS v2 on the wire: pure request builders and response parsers, no I/O.

The API page is loose about its answers, so the parsers accept every
reasonable variant: keys in any letter case, 200 or 201, a lone object where a list was
expected, timestamps with or without an offset or fractions of a second. Requests are
built the most standard way the page shows."""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo

from faxd.errors import OutcomeUnknownError
from faxd.model import Accepted, Method, ReceivedDocument, ReceivedFile, RemoteStatus, Submission
from faxd.providers.multipart import FilePart

# Paths below the base URL, cased as the page's headings (its examples also use /send).
SEND = "/Send"
RETRIEVE = "/Retrieve"
FILE = "/File/{file_id}"
DELETE = "/Delete"
CHECK_DFT = "/CheckDirectFileTransfer"

# Extensions the API lists without a MIME type: such files are sent converted to PNG.
CONVERT_TO_PNG = frozenset({"pcx"})

ZERO = timedelta(0)
PAGE_LIMIT = 100  # a date-range Retrieve answers at most this many documents

DELIVERED_STATUSES = frozenset({"sent", "received", "opened", "read"})
FAILED_STATUSES = frozenset({"failed"})
PENDING_STATUSES = frozenset({"sending"})
KNOWN_STATUSES = DELIVERED_STATUSES | FAILED_STATUSES | PENDING_STATUSES


class WireError(ValueError):
    """An answer that does not have the shape the API page describes."""


# --- requests ------------------------------------------------------------------------------


def send_fields(submission: Submission) -> list[tuple[str, str]]:
    """The form fields of POST /Send: one recipient per transmission, so each has its
    own faxId (the page does not show the answer for several recipients)."""
    return [
        ("senderFaxNumber", submission.sender),
        ("recipientFaxNumber", submission.recipient),
        ("allowDirectFileTransfer", "true" if submission.dft else "false"),
    ]


def send_files(submission: Submission) -> list[FilePart]:
    """One `file` part per file, with the sniffed MIME type and the name faxd chose,
    marked with the transmission's token (see `tokened_name`)."""
    token = upload_token(submission.key)
    return [FilePart("file", f.path, tokened_name(f.name, token), f.mime) for f in submission.files]


# --- transmission tokens in upload names -----------------------------------------------------
# A lost answer is looked up in a listing that shows, per document, only sender, recipient,
# time and file names. Each upload's names carry a token derived from faxd's own id of the
# transmission, so a listed document is recognisably this transmission's, another one's, or
# (no token: renamed by the service, or not sent by faxd) neither. Names are plain ASCII
# letters, digits and `._-`: anything else may come back changed by multipart encoding.

_TOKEN_LENGTH = 10
_TOKEN = re.compile(r"_fx([a-z2-7]{10})(?=[._-]|$)", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}")
_STEM_MAX = 80


def upload_token(key: str) -> str:
    """A short token for one transmission, derived from its (unique) key."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:_TOKEN_LENGTH]


def tokened_name(name: str, token: str) -> str:
    """`Brev till Åsa.PDF` -> `Brev_till_Asa_fx<token>.pdf`: safe on the wire, recognisable."""
    stem, dot, ext = name.rpartition(".")
    if not (dot and stem and _EXTENSION.fullmatch(ext)):
        stem, ext = name, ""
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("_", plain).strip("._-")[:_STEM_MAX] or "document"
    # The page validates the extension against a table spelled in lower case and does not
    # say whether case matters: `.PDF` may be refused where `.pdf` never is.
    return f"{stem}_fx{token}" + (f".{ext.lower()}" if ext else "")


def name_tokens(document: ReceivedDocument) -> frozenset[str]:
    """The transmission tokens the document's file names carry (none: not faxd's names)."""
    return frozenset(m.lower() for f in document.files for m in _TOKEN.findall(f.name))


def lookup_range_body(start: datetime, end: datetime, margin: timedelta) -> dict[str, str]:
    """A date-range Retrieve for an outcome lookup, right whatever the server's zone.

    The page does not say in which zone its offset-less times are. A server
    whose zone is at most `margin` from UTC reads a wall time W as an instant within
    `margin` of W-read-as-UTC, so [start - margin, end + margin] written as UTC wall time
    covers [start, end] in every such zone. UTC has no daylight-saving fold: dateFrom never
    comes out later than dateTo."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("range bounds must be aware datetimes")
    low = (start.astimezone(UTC) - margin).replace(tzinfo=None, microsecond=0)
    high = (max(start, end).astimezone(UTC) + margin).replace(tzinfo=None, microsecond=0)
    return {"dateFrom": low.isoformat(), "dateTo": high.isoformat()}


def upload_names(names: Sequence[str]) -> list[str]:
    """The name each file is uploaded under: its own, except that a PCX image travels
    converted to PNG (the API page's MIME table has no type for PCX) and is renamed
    `.png`, never onto the name of another file of the same transmission."""
    taken = {n.casefold() for n in names}
    result: list[str] = []
    for name in names:
        stem, dot, ext = name.rpartition(".")
        if not (dot and stem and ext.lower() in CONVERT_TO_PNG):
            result.append(name)
            continue
        candidate = f"{stem}.png"
        counter = 2
        while candidate.casefold() in taken:
            candidate = f"{stem}-{counter}.png"
            counter += 1
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def status_body(fax_id: str) -> dict[str, str]:
    return {"faxId": fax_id}


def delete_body(fax_id: str) -> dict[str, str]:
    return {"faxId": fax_id}


def check_dft_body(number: str) -> dict[str, str]:
    return {"recipientFaxNumber": number}


def range_body(
    start: datetime, end: datetime, tz: ZoneInfo, *, fractions: bool = False
) -> dict[str, str]:
    """A date-range Retrieve: both bounds inclusive, as offset-less local time in `tz`.

    Whole seconds, rounded down: faxTime has whole seconds, so a document at the end's
    second is still inside, and the start only ever reaches a little earlier. With
    `fractions` (an overfull second split further) the bounds keep their microseconds.

    Where the clock is set back inside the range (the autumn fold), a later instant reads
    earlier than an earlier one: the range is widened by the change at the end it touches,
    so it covers every wall time its instants read and dateFrom never exceeds dateTo."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("range bounds must be aware datetimes")
    low, high = _wall(start, tz, fractions), _wall(end, tz, fractions)
    # Two clock changes are never this close together: probing this far suffices.
    set_back_after_start = _offset(start, tz) - _offset(min(start + _PROBE, end), tz)
    set_back_before_end = _offset(max(end - _PROBE, start), tz) - _offset(end, tz)
    if set_back_after_start > ZERO:
        low -= set_back_after_start
    if set_back_before_end > ZERO:
        high += set_back_before_end
    low, high = min(low, high), max(low, high)
    return {"dateFrom": _wall_text(low), "dateTo": _wall_text(high)}


_PROBE = timedelta(hours=3)


def _offset(moment: datetime, tz: ZoneInfo) -> timedelta:
    return moment.astimezone(tz).utcoffset() or ZERO


def _wall(moment: datetime, tz: ZoneInfo, fractions: bool = False) -> datetime:
    wall = moment.astimezone(tz).replace(tzinfo=None, fold=0)
    return wall if fractions else wall.replace(microsecond=0)


def _wall_text(wall: datetime) -> str:
    # isoformat pads the year to four digits; strftime("%Y") does not on every platform.
    return wall.isoformat(timespec="microseconds" if wall.microsecond else "seconds")


# --- answers -------------------------------------------------------------------------------


def parse_send(data: Any, *, what: str) -> Accepted:
    """A 200/201 answer to POST /Send.

    Without a faxId the upload may still exist at the provider, so the outcome is unknown
    rather than a failure. A missing `directFileTransfer` means fax; the document's `type`
    in later status answers says for certain."""
    fields = _keys(data) if isinstance(data, Mapping) else None
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], Mapping):
        fields = _keys(data[0])
    fax_id = _id(fields.get("faxid")) if fields is not None else None
    if fields is None or fax_id is None:
        raise OutcomeUnknownError(
            f"{what}: the provider answered success without a faxId.",
            "The provider may have accepted it: faxd asks the provider before sending it again.",
        )
    dft = _bool(fields.get("directfiletransfer")) is True
    return Accepted(remote_id=fax_id, method=Method.DFT if dft else Method.FAX)


def parse_document(data: Any, tz: ZoneInfo) -> ReceivedDocument:
    """One document object of a Retrieve answer."""
    if not isinstance(data, Mapping):
        raise WireError(f"a document is a {type(data).__name__}, not an object")
    fields = _keys(data)
    fax_id = _id(fields.get("faxid"))
    if fax_id is None:
        raise WireError("a document has no faxId")
    raw_time = fields.get("faxtime") or fields.get("statustime")
    if not isinstance(raw_time, str):
        raise WireError(f"document {fax_id} has no faxTime")
    files: list[ReceivedFile] = []
    raw_files = fields.get("files") or []
    if not isinstance(raw_files, list):
        raise WireError(f"document {fax_id}: files is not a list")
    for item in raw_files:
        if not isinstance(item, Mapping):
            raise WireError(f"document {fax_id}: a file entry is not an object")
        file_fields = _keys(item)
        file_id = _id(file_fields.get("fileid"))
        if file_id is None:
            raise WireError(f"document {fax_id}: a file has no fileId")
        name = file_fields.get("filename")
        files.append(ReceivedFile(file_id=file_id, name=name if isinstance(name, str) else ""))
    recipients = _numbers(fields.get("recipientfaxnumber"))
    return ReceivedDocument(
        remote_id=fax_id,
        time=parse_time(raw_time, tz),
        sender=_text(fields.get("senderfaxnumber")),
        recipient=recipients[0] if recipients else "",
        recipients=recipients,
        status=_text(fields.get("status")),
        type=_text(fields.get("type")),
        files=tuple(files),
    )


@dataclass(frozen=True)
class Unreadable:
    """A record of a date-range listing that cannot be read as a document, with whatever
    can still be read of it (None: that field is missing or unreadable too)."""

    key: str  # its faxId, or a digest of the record when it has none
    problem: str
    fax_id: str | None
    sender: str | None
    recipients: tuple[str, ...] | None
    file_count: int | None
    file_names: tuple[str, ...]  # the names that can be read (maybe fewer than file_count)

    def tokens(self) -> frozenset[str]:
        """The transmission tokens its readable file names carry."""
        return frozenset(m.lower() for name in self.file_names for m in _TOKEN.findall(name))

    def all_names_read(self) -> bool:
        return self.file_count is not None and len(self.file_names) == self.file_count


@dataclass(frozen=True)
class Listing:
    """A date-range Retrieve answer read record by record: the documents, and the records
    that could not be read (left out, so one broken record does not hide the others)."""

    documents: list[ReceivedDocument]
    unreadable: list[Unreadable]

    @property
    def records(self) -> int:
        """How many records the provider listed: what counts against its page limit."""
        return len(self.documents) + len(self.unreadable)


def parse_listing(data: Any, tz: ZoneInfo) -> Listing:
    """A date-range Retrieve answer (a list of documents; a lone object or a wrapper
    object holding one list is read as that list), each record on its own: an unreadable
    one is kept aside as `Unreadable`. An answer that is not a list of records at all
    raises WireError."""
    documents: list[ReceivedDocument] = []
    unreadable: list[Unreadable] = []
    for item in _as_list(data):
        try:
            documents.append(parse_document(item, tz))
        except WireError as exc:
            unreadable.append(_unreadable(item, str(exc)))
    return Listing(documents, unreadable)


def _unreadable(item: Any, problem: str) -> Unreadable:
    fields = _keys(item) if isinstance(item, Mapping) else {}
    fax_id = _id(fields.get("faxid"))
    digest = hashlib.sha256(repr(item).encode("utf-8", "backslashreplace")).hexdigest()[:16]
    sender = _text(fields.get("senderfaxnumber")) or None
    raw_files = fields.get("files")
    names: tuple[str, ...] = ()
    if isinstance(raw_files, list):
        names = tuple(
            name
            for entry in raw_files
            if isinstance(entry, Mapping)
            for name in [_keys(entry).get("filename")]
            if isinstance(name, str)
        )
    return Unreadable(
        key=fax_id or f"record-{digest}",
        problem=problem,
        fax_id=fax_id,
        sender=sender,
        recipients=_all_numbers(fields.get("recipientfaxnumber")),
        file_count=len(raw_files) if isinstance(raw_files, list) else None,
        file_names=names,
    )


def parse_status(data: Any, fax_id: str, tz: ZoneInfo) -> RemoteStatus:
    """A faxId Retrieve answer: Sending is in flight; Sent, Received, Opened and Read are
    delivered; Failed is failed.

    An unknown status word is not final (and `status` keeps it for the caller to log)."""
    items = _as_list(data)
    wanted = fax_id.lower()  # a GUID: its letters' case is not part of it
    named = [_id(_keys(i).get("faxid")) if isinstance(i, Mapping) else None for i in items]
    matching = [i for i, n in zip(items, named, strict=True) if n and n.lower() == wanted]
    if not matching and len(items) == 1 and named[0] is None:
        matching = items  # an answer that leaves out the faxId it was asked about
    if not matching:
        # Never another document's status for this one: "delivered" must be this fax's.
        others = ", ".join(sorted({n for n in named if n}))
        about = f" (it names {others})" if others else ""
        raise WireError(f"the answer does not describe document {fax_id}{about}")
    document = parse_document(_with_id(matching[0], fax_id), tz)
    word = document.status.strip()
    key = word.lower()
    method = {"directfiletransfer": Method.DFT, "fax": Method.FAX}.get(document.type.lower())
    if key in DELIVERED_STATUSES:
        return RemoteStatus(fax_id, word, final=True, delivered=True, method=method)
    if key in FAILED_STATUSES:
        reason = _failure_reason(matching[0]) or "Generic DOCS reports the transmission failed."
        return RemoteStatus(fax_id, word, final=True, delivered=False, reason=reason, method=method)
    return RemoteStatus(fax_id, word, final=False, delivered=False, method=method)


def is_known_status(word: str) -> bool:
    return word.strip().lower() in KNOWN_STATUSES


def method_of(document: ReceivedDocument) -> Method:
    return Method.DFT if document.type.strip().lower() == "directfiletransfer" else Method.FAX


def parse_check_dft(data: Any) -> bool:
    """POST /CheckDirectFileTransfer: `directFileTransferSupported`."""
    fields = _keys(data) if isinstance(data, Mapping) else {}
    supported = _bool(fields.get("directfiletransfersupported"))
    if supported is None:
        raise WireError("the answer has no directFileTransferSupported true/false")
    return supported


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    """An API timestamp as an aware datetime; without an offset it is local time in `tz`."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise WireError(f"{text!r} is not an ISO-8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


# --- Content-Disposition (RFC 6266) --------------------------------------------------------

_PARAM = re.compile(
    r"""\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*(?:;|$)""",
    re.DOTALL,
)


def disposition_filename(header: str | None) -> str | None:
    """The file name a Content-Disposition header gives, or None.

    `filename*` (RFC 5987, e.g. UTF-8''na%C3%AFve.pdf) wins over `filename`. The result is
    the remote party's word, not a path: the caller must make it safe."""
    if not header:
        return None
    _, _, rest = header.partition(";")
    plain: str | None = None
    extended: str | None = None
    for match in _PARAM.finditer(rest):
        name, raw = match.group(1).lower(), match.group(2).strip()
        if name == "filename*" and extended is None:
            extended = _ext_value(raw)
        elif name == "filename" and plain is None:
            plain = _unquote(raw)
    chosen = extended if extended else plain
    return chosen or None


def _ext_value(raw: str) -> str | None:
    raw = _unquote(raw) if raw.startswith('"') else raw
    charset, sep, rest = raw.partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not sep or not sep2:
        return None
    try:
        return unquote_to_bytes(encoded).decode(charset.strip() or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return None


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
    # http.client reads header bytes as Latin-1; a server that put raw UTF-8 in the plain
    # parameter gets its name back instead of mojibake.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


# --- helpers -------------------------------------------------------------------------------


def _keys(data: Mapping[Any, Any]) -> dict[str, Any]:
    """Keys folded to lower case: the answers are read whatever casing the service uses."""
    return {str(k).lower(): v for k, v in data.items()}


def _as_list(data: Any) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping):
        if _DOCUMENT_KEYS & set(_keys(data)):
            return [data]
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        if not data:
            return []
    raise WireError(f"expected a list of documents, got a {type(data).__name__}")


_DOCUMENT_KEYS = frozenset(
    {"faxid", "faxtime", "status", "statustime", "senderfaxnumber", "recipientfaxnumber"}
)


def _with_id(data: Mapping[Any, Any], fax_id: str) -> Mapping[Any, Any]:
    if _id(_keys(data).get("faxid")) is not None:
        return data
    return {**data, "faxId": fax_id}


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int):
        text = str(value).strip()
        return text or None
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _all_numbers(value: Any) -> tuple[str, ...] | None:
    """Every number of `recipientFaxNumber`, or None when any of them cannot be read."""
    items = value if isinstance(value, list) else [value]
    numbers = tuple(_text(item) for item in items)
    return numbers if numbers and all(numbers) else None


def _numbers(value: Any) -> tuple[str, ...]:
    """`recipientFaxNumber` is "String or Array of String" on the API page: both are read."""
    items = value if isinstance(value, list) else [value]
    return tuple(text for text in (_text(item) for item in items) if text)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _failure_reason(data: Mapping[Any, Any]) -> str | None:
    # Not on the API page; kept when the service sends one of the usual names.
    fields = _keys(data)
    for key in ("reason", "statusreason", "statusmessage", "errormessage", "error", "message"):
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:300]
    return None
