"""Validation of a Retarus FaxJobRequest (api/retarus-fax4a-v1.md §4), strict where the
reference is firm: unknown fields, bad numbers, document names and encodings, time zones."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Up to 16 digits: Retarus's own examples dial 004989312000000000 (an extension behind
# the number), one more than E.164's 15.
INTERNATIONAL = re.compile(r"^(?:\+|00)[1-9]\d{6,15}$")
DOC_NAME = re.compile(r"^[a-zA-Z0-9\-_.]{1,32}$")
DOC_EXTENSIONS = ("pdf", "tif", "tiff", "txt", "html", "htm")
CHARSETS = {
    "US-ASCII": "ascii",
    "UTF-8": "utf-8",
    "UTF-16": "utf-16",
    "UTF-16BE": "utf-16-be",
    "UTF-16LE": "utf-16-le",
    "ISO-8859-1": "latin-1",
    "WINDOWS-1252": "cp1252",
}
DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

_TOP = {
    "reference",
    "recipients",
    "documents",
    "transportOptions",
    "renderingOptions",
    "statusReportOptions",
    "meta",
}
_OVERLAY_MODES = {
    "ALL_PAGES",
    "NO_OVERLAY",
    "FIRST_PAGE",
    "LAST_PAGE",
    "ALL_BUT_FIRST_PAGE",
    "ALL_BUT_LAST_PAGE",
    "ALL_BUT_FIRST_AND_LAST_PAGE",
    "FIRST_FILE",
}


class JobInvalid(ValueError):
    """The job request is refused (400); the message says what is wrong."""


@dataclass(frozen=True)
class Document:
    name: str
    data: bytes | None  # None when given by `reference` URL
    encoding: str  # Python codec for txt


@dataclass(frozen=True)
class Recipient:
    number: str
    properties: list[dict[str, str]] | None
    alternative_numbers: list[str] | None


@dataclass(frozen=True)
class Job:
    recipients: list[Recipient]
    documents: list[Document]
    reference: dict[str, str] | None


def _object(
    value: object, where: str, keys: set[str], required: Collection[str] = ()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JobInvalid(f"{where} must be a JSON object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise JobInvalid(f"unknown field {where}.{unknown[0]}")
    for key in sorted(required):
        if value.get(key) is None:
            raise JobInvalid(f"{where}.{key} is required")
    return value


def _string(value: object, where: str, max_len: int | None = None) -> str:
    if not isinstance(value, str):
        raise JobInvalid(f"{where} must be a string")
    if max_len is not None and len(value) > max_len:
        raise JobInvalid(f"{where} is longer than {max_len} characters")
    return value


def _optional_string(
    data: dict[str, Any], key: str, where: str, max_len: int | None = None
) -> None:
    if data.get(key) is not None:
        _string(data[key], f"{where}.{key}", max_len)


def _bool(data: dict[str, Any], key: str, where: str) -> None:
    if data.get(key) is not None and not isinstance(data[key], bool):
        raise JobInvalid(f"{where}.{key} must be true or false")


def _enum(data: dict[str, Any], key: str, where: str, allowed: set[str]) -> None:
    if data.get(key) is not None and data[key] not in allowed:
        raise JobInvalid(f"{where}.{key} must be one of {', '.join(sorted(allowed))}")


def _timestamp(value: object, where: str, label: str = "Job Expiration: ") -> datetime:
    text = _string(value, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise JobInvalid(f"{label}{where} {text!r} is not an ISO 8601 date-time") from None
    if "T" not in text.upper() or moment.tzinfo is None:
        raise JobInvalid(f"{label}{where} {text!r} has no time zone")
    return moment


def _number(value: object, where: str) -> str:
    text = _string(value, where)
    if not INTERNATIONAL.match(text):
        raise JobInvalid(
            f"{where} {text!r} is not in international format (+4989123456 or 004989123456)"
        )
    return text


def _recipients(value: object) -> list[Recipient]:
    if not isinstance(value, list) or not value:
        raise JobInvalid("recipients is required and must list at least one recipient")
    result: list[Recipient] = []
    for index, item in enumerate(value):
        where = f"recipients[{index}]"
        data = _object(item, where, {"number", "properties", "alternativeNumbers"}, {"number"})
        number = _number(data["number"], f"{where}.number")
        props = data.get("properties")
        if props is not None:
            if not isinstance(props, list):
                raise JobInvalid(f"{where}.properties must be a list")
            for pindex, prop in enumerate(props):
                pwhere = f"{where}.properties[{pindex}]"
                checked = _object(prop, pwhere, {"key", "value"}, {"key", "value"})
                _string(checked["key"], f"{pwhere}.key")
                _string(checked["value"], f"{pwhere}.value")
        alternatives = data.get("alternativeNumbers")
        if alternatives is not None:
            if not isinstance(alternatives, list):
                raise JobInvalid(f"{where}.alternativeNumbers must be a list")
            for aindex, alt in enumerate(alternatives):
                _number(alt, f"{where}.alternativeNumbers[{aindex}]")
        result.append(Recipient(number, props, alternatives))
    return result


def _documents(value: object) -> list[Document]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise JobInvalid("documents must be a list")
    result: list[Document] = []
    for index, item in enumerate(value):
        where = f"documents[{index}]"
        data = _object(item, where, {"name", "charset", "reference", "data"}, {"name"})
        name = _string(data["name"], f"{where}.name")
        if not DOC_NAME.match(name):
            raise JobInvalid(f"{where}.name {name!r} must be 1-32 characters of a-z A-Z 0-9 - _ .")
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in DOC_EXTENSIONS:
            raise JobInvalid(
                f"{where}.name {name!r}: document format must be one of {', '.join(DOC_EXTENSIONS)}"
            )
        charset = data.get("charset")
        encoding = "utf-8"
        if charset is not None:
            key = _string(charset, f"{where}.charset").upper()
            if key not in CHARSETS:
                raise JobInvalid(
                    f"{where}.charset {charset!r} must be one of {', '.join(CHARSETS)}"
                )
            encoding = CHARSETS[key]
        reference, raw = data.get("reference"), data.get("data")
        content: bytes | None = None
        if reference is not None:
            url = _string(reference, f"{where}.reference")
            if not url.startswith(("http://", "https://")):
                raise JobInvalid(f"{where}.reference must be an http(s) URL")
        elif raw is None:
            raise JobInvalid(f"{where} has neither data nor reference")
        else:
            text = _string(raw, f"{where}.data")
            if not text or len(text) % 4 or not _B64.match(text):
                raise JobInvalid(f"{where}.data is not valid non-empty base64")
            try:
                content = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise JobInvalid(f"{where}.data is not valid base64") from None
            if not content:
                raise JobInvalid(f"{where}.data decodes to an empty document")
        result.append(Document(name, content, encoding))
    return result


def _reference(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    data = _object(value, "reference", {"customerDefinedId", "billingCode", "billingInfo"})
    _optional_string(data, "customerDefinedId", "reference", 256)
    _optional_string(data, "billingCode", "reference", 80)
    _optional_string(data, "billingInfo", "reference", 80)
    return {k: v for k, v in data.items() if v is not None}


def _options(job: dict[str, Any]) -> None:
    if job.get("transportOptions") is not None:
        data = _object(
            job["transportOptions"], "transportOptions", {"csid", "isExpress", "isBlacklistEnabled"}
        )
        _optional_string(data, "csid", "transportOptions", 20)
        _bool(data, "isExpress", "transportOptions")
        _bool(data, "isBlacklistEnabled", "transportOptions")
    if job.get("renderingOptions") is not None:
        where = "renderingOptions"
        data = _object(
            job[where],
            where,
            {"paperFormat", "resolution", "coverpageTemplate", "overlay", "header"},
            {"paperFormat"},
        )
        _enum(data, "paperFormat", where, {"A4", "LETTER"})
        _enum(data, "resolution", where, {"HIGH", "LOW"})
        _optional_string(data, "coverpageTemplate", where)
        _optional_string(data, "header", where)
        if data.get("overlay") is not None:
            overlay = _object(
                data["overlay"], f"{where}.overlay", {"name", "mode"}, {"name", "mode"}
            )
            _string(overlay["name"], f"{where}.overlay.name")
            _enum(overlay, "mode", f"{where}.overlay", _OVERLAY_MODES)
    if job.get("statusReportOptions") is not None:
        where = "statusReportOptions"
        data = _object(job[where], where, {"reportPurgeTs", "reportMail", "httpStatusPush"})
        if data.get("reportPurgeTs") is not None:
            _timestamp(data["reportPurgeTs"], f"{where}.reportPurgeTs", label="")
        if data.get("reportMail") is not None:
            mail_where = f"{where}.reportMail"
            mail = _object(
                data["reportMail"],
                mail_where,
                {
                    "successAddress",
                    "failureAddress",
                    "attachedFaxImageMode",
                    "attachedFaxImageFormat",
                },
            )
            _optional_string(mail, "successAddress", mail_where)
            _optional_string(mail, "failureAddress", mail_where)
            _enum(
                mail,
                "attachedFaxImageMode",
                mail_where,
                {"NEVER", "SUCCESS_ONLY", "FAILURE_ONLY", "ALWAYS"},
            )
            _enum(mail, "attachedFaxImageFormat", mail_where, {"TIFF", "PDF", "PDF_WITH_OCR"})
        if data.get("httpStatusPush") is not None:
            push_where = f"{where}.httpStatusPush"
            push = _object(
                data["httpStatusPush"],
                push_where,
                {"targetUrl", "principal", "credentials", "authMethod"},
                {"targetUrl"},
            )
            _string(push["targetUrl"], f"{push_where}.targetUrl")
            _optional_string(push, "principal", push_where)
            _optional_string(push, "credentials", push_where)
            _enum(push, "authMethod", push_where, {"NONE", "HTTP_BASIC", "HTTP_DIGEST", "OAUTH2"})
    if job.get("meta") is not None:
        data = _object(
            job["meta"], "meta", {"customerReference", "jobValid"}, {"customerReference"}
        )
        _string(data["customerReference"], "meta.customerReference")
        if data.get("jobValid") is not None:
            valid = _object(data["jobValid"], "meta.jobValid", {"start", "end"})
            start = None
            if valid.get("start") is not None:
                start = _timestamp(valid["start"], "meta.jobValid.start")
            if valid.get("end") is not None:
                end_text = _string(valid["end"], "meta.jobValid.end")
                if not DURATION.match(end_text):
                    end = _timestamp(end_text, "meta.jobValid.end")
                    if start is not None and end <= start:
                        raise JobInvalid("Job Expiration: meta.jobValid.end is not after start")


# What retarus-cloudFaxRestAPI.swagger2.json marks required beyond `recipients`.
_SWAGGER_REQUIRED = {
    "renderingOptions": "paperFormat",
    "statusReportOptions": "reportPurgeTs",
}


def validate_job(data: object, *, swagger_required: bool = False) -> Job:
    """Check a FaxJobRequest; JobInvalid with the first problem found. `swagger_required`:
    also require what the Swagger file marks required (see `Scenario.retarus_required`)."""
    job = _object(data, "job", _TOP)
    if swagger_required:
        for name, inner in _SWAGGER_REQUIRED.items():
            if job.get(name) is None:
                raise JobInvalid(f"{name} is required")
            if isinstance(job[name], dict) and job[name].get(inner) is None:
                raise JobInvalid(f"{name}.{inner} is required")
    recipients = _recipients(job.get("recipients"))
    documents = _documents(job.get("documents"))
    _options(job)
    cover = (job.get("renderingOptions") or {}).get("coverpageTemplate")
    if not documents and not cover:
        raise JobInvalid("the job has no document and no cover page")
    return Job(recipients, documents, _reference(job.get("reference")))


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def render(documents: list[Document]) -> tuple[int, bool]:
    """(pages, renders): what Retarus would make of the documents.

    A document whose content is not what its extension says fails later with
    RENDERING_ERROR, as the real service reports it per recipient, not with a 400."""
    pages = 0
    for doc in documents:
        if doc.data is None:
            pages += 1
            continue
        ext = doc.name.rsplit(".", 1)[-1].lower()
        if ext == "pdf":
            if b"%PDF-" not in doc.data[:1024]:
                return 0, False
            pages += max(1, len(_PDF_PAGE.findall(doc.data)))
        elif ext in ("tif", "tiff"):
            if not doc.data.startswith((b"II*\x00", b"MM\x00*")):
                return 0, False
            pages += 1
        else:
            try:
                text = doc.data.decode(doc.encoding)
            except UnicodeDecodeError:
                return 0, False
            if "\x00" in text:
                return 0, False
            pages += 1 + text.count("\n") // 60
    return max(pages, 1), True
