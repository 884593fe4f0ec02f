"""The emulated Generic DOCS API v2, with the liberties its documentation leaves open.

`route` maps a path below the base URL to an endpoint name, `recipients` finds the numbers
a request concerns (for fault matching), `handle` answers it. Error bodies are JSON:
{"status": 400, "error": "Bad Request", "message": "..."}."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from faxd.sandbox.blobs import BytesBlob
from faxd.sandbox.filecheck import MAX_FILES, check_file
from faxd.sandbox.multipart import MultipartError, Part, boundary_of, media_type, parse_multipart
from faxd.sandbox.scenario import E164
from faxd.sandbox.store import DocsRecord, SandboxState, StoredFile
from faxd.sandbox.timeutil import parse_docs_time
from faxd.sandbox.wire import JsonBodyError, Request, Response, json_body, json_response

MAX_RECIPIENTS = 10
RANGE_LIMIT = 100
_SEND_FIELDS = {
    "senderFaxNumber",
    "recipientFaxNumber",
    "allowDirectFileTransfer",
    "deliveryReportUrl",
    "file",
}
# endpoint name -> (path as written in the API page, allowed method)
ENDPOINTS = {
    "send": ("Send", "POST"),
    "retrieve": ("Retrieve", "POST"),
    "file": ("File/{fileId}", "GET"),
    "delete": ("Delete", "DELETE"),
    "check_dft": ("CheckDirectFileTransfer", "POST"),
}
# the API page spells paths both ways (/Send and /send): match them without case
_BY_PATH = {path.lower(): name for name, (path, _) in ENDPOINTS.items() if "/" not in path}


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return json_response(status, {"status": status, "error": phrase, "message": message}, headers)


def route(method: str, path: str) -> tuple[str | None, Response | None]:
    """(endpoint, None), or (None, an error answer) for unknown paths and wrong methods."""
    parts = [p for p in path.split("/") if p]
    endpoint: str | None = None
    if len(parts) == 1:
        endpoint = _BY_PATH.get(parts[0].lower())
    elif len(parts) == 2 and parts[0].lower() == "file":
        endpoint = "file"
    if endpoint is None:
        return None, error(404, f"There is no Generic DOCS endpoint at /{'/'.join(parts)}.")
    allowed = ENDPOINTS[endpoint][1]
    if method != allowed:
        return None, error(
            405, f"/{ENDPOINTS[endpoint][0]} takes {allowed}, not {method}.", [("Allow", allowed)]
        )
    return endpoint, None


def authorized(request: Request, api_key: str) -> bool:
    scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), api_key.encode())


def unauthorized() -> Response:
    return error(
        401,
        "Authentication failed: send 'Authorization: Bearer <API key>' with a valid key.",
        [("WWW-Authenticate", 'Bearer realm="docs"')],
    )


def _form(request: Request) -> list[Part]:
    if "form" not in request.cache:
        ctype = request.header("Content-Type")
        if media_type(ctype) != "multipart/form-data":
            raise _Refused(415, "POST /Send takes multipart/form-data.")
        try:
            request.cache["form"] = parse_multipart(request.body, boundary_of(ctype))
        except MultipartError as exc:
            raise _Refused(400, f"The body is not valid multipart/form-data: {exc}.") from None
    parts: list[Part] = request.cache["form"]
    return parts


def _text(part: Part) -> str:
    try:
        return part.data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, f"Field {part.name} is not valid UTF-8.") from None


def _recipient_values(parts: list[Part]) -> list[str]:
    values: list[str] = []
    for part in parts:
        if part.name != "recipientFaxNumber":
            continue
        text = _text(part).strip()
        # "String or Array of String": a JSON array in one field, or the field repeated
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                raise _Refused(400, "recipientFaxNumber is not a valid JSON array.") from None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise _Refused(400, "recipientFaxNumber must be an array of strings.")
            values.extend(items)
        else:
            values.append(text)
    return values


def _json_object(request: Request, endpoint: str) -> dict[str, Any]:
    if media_type(request.header("Content-Type")) != "application/json":
        raise _Refused(415, f"/{ENDPOINTS[endpoint][0]} takes application/json.")
    try:
        data = json_body(request)
    except JsonBodyError as exc:
        raise _Refused(400, f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise _Refused(400, "The request body must be a JSON object.")
    return data


def recipients(state: SandboxState, endpoint: str, request: Request) -> list[str]:
    """The numbers a request concerns, for fault rules with `match`; [] when unknown."""
    try:
        if endpoint == "send":
            return _recipient_values(_form(request))
        if endpoint == "file":
            with state.lock:
                found = state.docs_files.get(request.path.rstrip("/").rsplit("/", 1)[-1])
                return [found[0].recipient] if found else []
        data = json_body(request)
    except (_Refused, JsonBodyError):
        return []
    if not isinstance(data, dict):
        return []
    if endpoint == "check_dft":
        number = data.get("recipientFaxNumber")
        return [number] if isinstance(number, str) else []
    fax_id = data.get("faxId")
    with state.lock:
        record = state.docs_records.get(fax_id) if isinstance(fax_id, str) else None
        return [record.recipient] if record else []


def handle(state: SandboxState, endpoint: str, request: Request) -> Response:
    try:
        if endpoint == "send":
            return _send(state, request)
        if endpoint == "retrieve":
            return _retrieve(state, request)
        if endpoint == "file":
            return _file(state, request)
        if endpoint == "delete":
            return _delete(state, request)
        return _check_dft(state, request)
    except _Refused as refused:
        return error(refused.status, refused.message)


def _send(state: SandboxState, request: Request) -> Response:
    parts = _form(request)
    unknown = sorted({p.name for p in parts} - _SEND_FIELDS)
    if unknown:
        raise _Refused(400, f"Unknown form field {unknown[0]!r}.")
    fields: dict[str, list[Part]] = {}
    for part in parts:
        fields.setdefault(part.name, []).append(part)

    senders = fields.get("senderFaxNumber", [])
    if len(senders) != 1:
        raise _Refused(400, "senderFaxNumber is required exactly once.")
    sender = _text(senders[0]).strip()
    if not E164.match(sender):
        raise _Refused(400, f"senderFaxNumber {sender!r} is not in E.164 format (+46812345678).")

    numbers = _recipient_values(parts)
    if not numbers:
        raise _Refused(400, "recipientFaxNumber is required.")
    if len(numbers) > MAX_RECIPIENTS:
        raise _Refused(400, f"At most {MAX_RECIPIENTS} recipients, got {len(numbers)}.")
    for number in numbers:
        if not E164.match(number):
            raise _Refused(
                400, f"recipientFaxNumber {number!r} is not in E.164 format (+46812345678)."
            )

    dft_fields = fields.get("allowDirectFileTransfer", [])
    if len(dft_fields) > 1:
        raise _Refused(400, "allowDirectFileTransfer may be given once.")
    allow_dft = False
    if dft_fields:
        flag = _text(dft_fields[0]).strip().lower()
        if flag not in ("true", "false"):
            raise _Refused(400, f"allowDirectFileTransfer must be true or false, not {flag!r}.")
        allow_dft = flag == "true"

    report_urls = fields.get("deliveryReportUrl", [])
    if len(report_urls) > 1:
        raise _Refused(400, "deliveryReportUrl may be given once.")
    if report_urls:
        url = urlsplit(_text(report_urls[0]).strip())
        if url.scheme not in ("http", "https") or not url.netloc:
            raise _Refused(400, "deliveryReportUrl must be an absolute http(s) URL.")

    files = fields.get("file", [])
    if not files:
        raise _Refused(400, "At least one file is required (form field 'file').")
    if len(files) > MAX_FILES:
        raise _Refused(400, f"At most {MAX_FILES} files per request, got {len(files)}.")
    for part in files:
        problem = check_file(part.filename, part.content_type, part.data)
        if problem:
            raise _Refused(400, problem[0].upper() + problem[1:] + ".")

    uploads = [
        (part, BytesBlob(part.data), hashlib.sha256(part.data).hexdigest()) for part in files
    ]
    with state.lock:
        now = state.now()
        scenario = state.scenario
        names = [
            service_name(now, sender, i, part.filename or "", scenario.tz)
            if scenario.rename_files
            else part.filename or ""
            for i, (part, _, _) in enumerate(uploads)
        ]
        answers: list[DocsRecord] = []
        for number in numbers:
            dft = allow_dft and state.scenario.docs_dft(number)
            record = DocsRecord(
                fax_id=str(uuid.uuid4()),
                fax_time=int(now),
                created=now,
                sender=sender,
                recipient=number,
                type="DirectFileTransfer" if dft else "Fax",
                files=[
                    StoredFile(
                        file_id=str(uuid.uuid4()),
                        name=name,
                        content_type=part.content_type or "application/octet-stream",
                        blob=blob,
                        sha256=digest,
                    )
                    for (part, blob, digest), name in zip(uploads, names, strict=True)
                ],
                outbound=True,
                fails=state.scenario.docs_fails(number),
            )
            state.add_docs_record(record)
            answers.append(record)
        state.docs.accepted += 1
        for _, _, digest in uploads:
            state.docs.uploads_by_sha256[digest] += 1
        # Every recipient gets its own document; the page shows the answer for one
        # recipient only: one object then, a list of them for several.
        objects = [
            {
                "recipientFaxNumber": record.recipient,
                "faxId": record.fax_id,
                "directFileTransfer": record.type == "DirectFileTransfer",
            }
            for record in answers
        ]
        return json_response(
            state.scenario.send_status, objects[0] if len(objects) == 1 else objects
        )


def service_name(now: float, sender: str, index: int, original: str, tz: ZoneInfo) -> str:
    """A name as the service might give a stored file (`20250411_0916344612345678.pdf` on
    the API page): time, sender digits, the original extension; nothing of the name."""
    stamp = datetime.fromtimestamp(int(now), tz).strftime("%Y%m%d_%H%M%S")
    digits = "".join(c for c in sender if c.isdigit())
    _, dot, ext = original.rpartition(".")
    suffix = f"-{index + 1}" if index else ""
    return f"{stamp}{digits}{suffix}" + (f".{ext.lower()}" if dot and ext else "")


def _retrieve(state: SandboxState, request: Request) -> Response:
    data = _json_object(request, "retrieve")
    unknown = sorted(set(data) - {"faxId", "dateFrom", "dateTo"})
    if unknown:
        raise _Refused(400, f"Unknown field {unknown[0]!r}.")
    if "faxId" in data:
        if "dateFrom" in data or "dateTo" in data:
            raise _Refused(400, "Give either faxId or dateFrom and dateTo, not both.")
        fax_id = data["faxId"]
        if not isinstance(fax_id, str) or not fax_id:
            raise _Refused(400, "faxId must be a non-empty string.")
        with state.lock:
            record = state.docs_records.get(fax_id)
            if record is None:
                raise _Refused(404, f"No document with faxId {fax_id!r}.")
            return json_response(200, record.to_json(state.now(), state.scenario))
    tz = state.scenario.tz
    bounds: list[float] = []
    for key in ("dateFrom", "dateTo"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise _Refused(400, f"{key} is required (ISO-8601, e.g. 2023-05-01T12:00:00).")
        try:
            bounds.append(parse_docs_time(value, tz))
        except ValueError:
            raise _Refused(400, f"{key} {value!r} is not an ISO-8601 date-time.") from None
    start, end = bounds
    if start > end:
        raise _Refused(400, "dateFrom is later than dateTo.")
    with state.lock:
        now = state.now()
        found = sorted(
            (r for r in state.docs_records.values() if start <= r.fax_time <= end),
            key=lambda r: (r.fax_time, r.created),
        )
        return json_response(200, [r.to_json(now, state.scenario) for r in found[:RANGE_LIMIT]])


def content_disposition(name: str) -> str:
    """`attachment; filename="…"` plus RFC 5987 `filename*` when the name is not plain ASCII.

    The plain form replaces what cannot travel in a header; the extended form carries the
    name as the remote party gave it (including hostile parts) for faxd to make safe."""
    plain = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in name)
    header = f'attachment; filename="{plain}"'
    if plain != name:
        try:
            raw = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = name.encode("utf-8", "surrogatepass")
        header += "; filename*=UTF-8''" + quote(raw, safe="")
    return header


def _file(state: SandboxState, request: Request) -> Response:
    file_id = request.path.rstrip("/").rsplit("/", 1)[-1]
    with state.lock:
        found = state.docs_files.get(file_id)
        if found is None or found[1].blob is None or not found[0].ready(state.now()):
            raise _Refused(404, f"No file with fileId {file_id!r} (unknown or deleted).")
        stored = found[1]
        return Response(
            status=200,
            content_type=stored.content_type,
            headers=[("Content-Disposition", content_disposition(stored.name))],
            blob=stored.blob,
        )


def _delete(state: SandboxState, request: Request) -> Response:
    data = _json_object(request, "delete")
    fax_id = data.get("faxId")
    if not isinstance(fax_id, str) or not fax_id:
        raise _Refused(400, "faxId is required.")
    with state.lock:
        record = state.docs_records.get(fax_id)
        if record is None:
            raise _Refused(404, f"No document with faxId {fax_id!r}.")
        for stored in record.files:
            stored.blob = None
        if fax_id not in state.docs.deleted:
            state.docs.deleted.append(fax_id)
    return Response(status=204, content_type=None)


def _check_dft(state: SandboxState, request: Request) -> Response:
    data = _json_object(request, "check_dft")
    number = data.get("recipientFaxNumber")
    if not isinstance(number, str) or not E164.match(number):
        raise _Refused(400, f"recipientFaxNumber {number!r} is not in E.164 format.")
    with state.lock:
        state.dft_checks[number] += 1
        supported = state.scenario.docs_dft(number)
    return json_response(
        200, {"recipientFaxNumber": number, "directFileTransferSupported": supported}
    )
