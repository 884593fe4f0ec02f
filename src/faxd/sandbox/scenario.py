"""Scenario files: what the emulated accounts look like (credentials, DFT-capable and
failing numbers, received documents, injected faults).

Every key is optional; `load_scenario` refuses unknown keys and bad values with one
sentence naming the file, the key and the problem. Numbers follow a built-in rule when a
scenario lists them nowhere (see `Scenario.docs_dft`, `docs_fails`, `retarus_failure`)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from faxd.sandbox.faults import FaultRule, parse_fault
from faxd.sandbox.timeutil import parse_moment

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DOCS_TYPES = ("Fax", "DirectFileTransfer")
DOCS_STATUSES = ("Sending", "Sent", "Failed", "Received", "Opened", "Read")
RETARUS_FAILURES = {
    "BUSY": "Line busy",
    "NOFAX": "No fax machine answered",
    "NOFAX_DIS": "Recipient hung up",
    "NOFAX_TO": "No fax protocol signal",
    "RING_TO": "No answer",
    "WRONG_NO": "Wrong number",
    "REM_DIS": "Remote side disconnected",
    "BLACKLIST": "Number is on a block list",
    "RENDERING_ERROR": "Document could not be converted",
    "CANCELLED": "Cancelled",
}

_TOP_KEYS = {
    "docs_api_key",
    "retarus_customer_number",
    "retarus_username",
    "retarus_password",
    "retarus_placement",
    "retarus_required",
    "send_status",
    "status_delay",
    "timezone",
    "rename_files",
    "dft_numbers",
    "failing_numbers",
    "received",
    "generate_received",
    "faults",
}
_RECEIVED_KEYS = {
    "faxId",
    "faxTime",
    "sender",
    "recipient",
    "type",
    "status",
    "files",
    "ready_after",
}
_FILE_KEYS = {"fileName", "content", "content_base64", "size", "path", "contentType"}
_SOURCES = ("content", "content_base64", "size", "path")
_GENERATE_KEYS = {
    "count",
    "start",
    "span_seconds",
    "recipient",
    "recipients",
    "sender",
    "size",
    "hostile_names",
    "seed",
    "type",
}


@dataclass(frozen=True)
class Scenario:
    docs_api_key: str = "sandbox-docs-key"
    retarus_customer_number: str = "999901"
    retarus_username: str = "faxd"
    retarus_password: str = "sandbox-password"  # noqa: S105 - the sandbox's public demo login
    retarus_placement: str = "alternate"  # alternate | hash: which data center gets a job
    # minimal | swagger: which fields a job must carry. The reference pages and every SDK
    # send recipients alone; the Swagger file also requires renderingOptions (with
    # paperFormat) and statusReportOptions (with reportPurgeTs).
    retarus_required: str = "minimal"
    send_status: int = 201
    status_delay: float = 1.0
    timezone: str = "Europe/Stockholm"
    # Store uploads under names the service makes up (as the API page's examples look),
    # not the names the client sent.
    rename_files: bool = False
    dft_numbers: frozenset[str] = frozenset()
    # number -> Retarus status for it (Generic DOCS only needs "it fails")
    failing_numbers: Mapping[str, str] = field(default_factory=dict)
    received: tuple[Mapping[str, Any], ...] = ()
    generate_received: Mapping[str, Any] | None = None
    faults: tuple[FaultRule, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _listed(self, number: str) -> bool:
        return number in self.dft_numbers or number in self.failing_numbers

    def docs_dft(self, number: str) -> bool:
        """DFT-capable: listed in dft_numbers, or listed nowhere and ending in 11."""
        if self._listed(number):
            return number in self.dft_numbers
        return number.endswith("11")

    def docs_fails(self, number: str) -> bool:
        """Fails: listed in failing_numbers, or listed nowhere and ending in 99."""
        if self._listed(number):
            return number in self.failing_numbers
        return number.endswith("99")

    def retarus_failure(self, number: str) -> str | None:
        """The final Retarus status for a failing number (None: delivered).

        Retarus numbers may be written 00…; they are compared in + form. Listed nowhere:
        ending in 98 is BUSY, ending in 99 is NOFAX."""
        plus = "+" + number[2:] if number.startswith("00") else number
        if plus in self.failing_numbers:
            return self.failing_numbers[plus]
        if plus in self.dft_numbers:
            return None
        if plus.endswith("98"):
            return "BUSY"
        if plus.endswith("99"):
            return "NOFAX"
        return None


def _fail(source: str, key: str, problem: str) -> ValueError:
    return ValueError(f"{source}: {key}: {problem}; fix the scenario and start the sandbox again.")


def _number(value: object, source: str, key: str) -> str:
    if not isinstance(value, str) or not E164.match(value):
        raise _fail(source, key, f"{value!r} is not an E.164 number such as +46812345678")
    return value


def _numbers(value: object, source: str, key: str) -> list[str]:
    if not isinstance(value, list):
        raise _fail(source, key, "must be a list of E.164 numbers")
    return [_number(item, source, f"{key}[{i}]") for i, item in enumerate(value)]


def _failing(value: object, source: str) -> dict[str, str]:
    key = "failing_numbers"
    if isinstance(value, list):
        return dict.fromkeys(_numbers(value, source, key), "NOFAX")
    if isinstance(value, Mapping):
        result: dict[str, str] = {}
        for number, status in value.items():
            _number(number, source, f"{key}[{number!r}]")
            if status is None:
                status = "NOFAX"
            if not isinstance(status, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", status):
                raise _fail(
                    source, f"{key}[{number!r}]", "the status must be a word like BUSY or NOFAX"
                )
            if status in ("OK", "PENDING"):
                raise _fail(source, f"{key}[{number!r}]", f"{status} is not a failure status")
            result[number] = status
        return result
    raise _fail(source, key, "must be a list of numbers or a mapping of number to Retarus status")


def _check_time(value: object, tz: ZoneInfo, source: str, key: str) -> None:
    try:
        parse_moment(value, tz, 0.0)
    except ValueError as exc:
        raise _fail(source, key, str(exc)) from None


def _received(value: object, tz: ZoneInfo, source: str, base: Path | None) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _fail(source, "received", "must be a list of documents")
    result: list[dict[str, Any]] = []
    for index, entry in enumerate(value):
        result.append(check_received(entry, tz, source, f"received[{index}]", base))
    return result


def check_received(
    entry: object, tz: ZoneInfo, source: str, key: str, base: Path | None = None
) -> dict[str, Any]:
    """Validate one received document entry (scenario, add_received, POST /_sandbox/received).

    Sender and file names are deliberately not checked: they come from remote parties and
    the emulator must be able to serve hostile ones."""
    if not isinstance(entry, Mapping):
        raise _fail(source, key, "must be a mapping with faxTime, sender, recipient and files")
    unknown = sorted(set(entry) - _RECEIVED_KEYS)
    if unknown:
        raise _fail(source, f"{key}.{unknown[0]}", "unknown key")
    doc = dict(entry)
    if "faxId" in doc and (not isinstance(doc["faxId"], str) or not doc["faxId"]):
        raise _fail(source, f"{key}.faxId", "must be a non-empty string")
    _check_time(doc.get("faxTime", "now"), tz, source, f"{key}.faxTime")
    if not isinstance(doc.get("sender", ""), str):
        raise _fail(source, f"{key}.sender", "must be a string")
    if "recipient" not in doc:
        raise _fail(source, f"{key}.recipient", "is required (one of the office's numbers)")
    if isinstance(doc["recipient"], list):
        # listed as an array, as "String or Array of String" allows
        if not _numbers(doc["recipient"], source, f"{key}.recipient"):
            raise _fail(source, f"{key}.recipient", "must name at least one number")
    else:
        _number(doc["recipient"], source, f"{key}.recipient")
    ready = doc.get("ready_after", 0)
    if isinstance(ready, bool) or not isinstance(ready, int | float) or ready < 0:
        raise _fail(source, f"{key}.ready_after", "must be a number of seconds >= 0")
    if doc.get("type", "Fax") not in DOCS_TYPES:
        raise _fail(source, f"{key}.type", f"must be one of {', '.join(DOCS_TYPES)}")
    if doc.get("status", "Received") not in DOCS_STATUSES:
        raise _fail(source, f"{key}.status", f"must be one of {', '.join(DOCS_STATUSES)}")
    files = doc.get("files")
    if not isinstance(files, list) or not files:
        raise _fail(source, f"{key}.files", "must be a non-empty list of files")
    checked: list[dict[str, Any]] = []
    for index, item in enumerate(files):
        where = f"{key}.files[{index}]"
        if not isinstance(item, Mapping):
            raise _fail(source, where, "must be a mapping with fileName and content, size or path")
        unknown = sorted(set(item) - _FILE_KEYS)
        if unknown:
            raise _fail(source, f"{where}.{unknown[0]}", "unknown key")
        if not isinstance(item.get("fileName"), str):
            raise _fail(source, f"{where}.fileName", "is required and must be a string")
        given = [name for name in _SOURCES if name in item]
        if len(given) != 1:
            raise _fail(source, where, f"give exactly one of {', '.join(_SOURCES)}")
        one = dict(item)
        if "content" in one and not isinstance(one["content"], str | bytes):
            raise _fail(source, f"{where}.content", "must be text or bytes")
        if "content_base64" in one:
            try:
                one["content"] = base64.b64decode(one.pop("content_base64"), validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise _fail(source, f"{where}.content_base64", "is not valid base64") from None
        if "size" in one:
            size = one["size"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise _fail(source, f"{where}.size", "must be a whole number of bytes >= 0")
        if "path" in one:
            if not isinstance(one["path"], str):
                raise _fail(source, f"{where}.path", "must be a file path")
            path = Path(one["path"])
            if not path.is_absolute() and base is not None:
                path = base / path
            if not path.is_file():
                raise _fail(source, f"{where}.path", f"{path} is not a readable file")
            one["path"] = str(path)
        if "contentType" in one and not isinstance(one["contentType"], str):
            raise _fail(source, f"{where}.contentType", "must be a MIME type string")
        checked.append(one)
    doc["files"] = checked
    return doc


def _generate(value: object, tz: ZoneInfo, source: str) -> dict[str, Any]:
    key = "generate_received"
    if not isinstance(value, Mapping):
        raise _fail(source, key, "must be a mapping (count, start, span_seconds, …)")
    unknown = sorted(set(value) - _GENERATE_KEYS)
    if unknown:
        raise _fail(source, f"{key}.{unknown[0]}", "unknown key")
    spec = dict(value)
    for name, minimum in (("count", 0), ("size", 1), ("span_seconds", 0), ("seed", None)):
        if name in spec:
            item = spec[name]
            if isinstance(item, bool) or not isinstance(item, int):
                raise _fail(source, f"{key}.{name}", "must be a whole number")
            if minimum is not None and item < minimum:
                raise _fail(source, f"{key}.{name}", f"must be >= {minimum}")
    if "start" in spec:
        _check_time(spec["start"], tz, source, f"{key}.start")
    if "recipient" in spec:
        spec["recipients"] = [_number(spec.pop("recipient"), source, f"{key}.recipient")]
    if "recipients" in spec:
        spec["recipients"] = _numbers(spec["recipients"], source, f"{key}.recipients")
        if not spec["recipients"]:
            raise _fail(source, f"{key}.recipients", "must name at least one number")
    if "sender" in spec and not isinstance(spec["sender"], str):
        raise _fail(source, f"{key}.sender", "must be a string")
    if not isinstance(spec.get("hostile_names", False), bool):
        raise _fail(source, f"{key}.hostile_names", "must be true or false")
    if spec.get("type", "Fax") not in DOCS_TYPES:
        raise _fail(source, f"{key}.type", f"must be one of {', '.join(DOCS_TYPES)}")
    return spec


def parse_scenario(data: object, source: str = "scenario", base: Path | None = None) -> Scenario:
    """Check a scenario mapping and turn it into a Scenario; ValueError on the first problem."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _fail(source, "(top level)", "must be a mapping of keys to values")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(
            source, str(unknown[0]), f"unknown key; known keys: {', '.join(sorted(_TOP_KEYS))}"
        )
    values: dict[str, Any] = {}
    for name in ("docs_api_key", "retarus_username", "retarus_password"):
        if name in data:
            item = data[name]
            if not isinstance(item, str) or not item or not item.isprintable():
                raise _fail(source, name, "must be a non-empty printable string")
            if name == "retarus_username" and ":" in item:
                raise _fail(source, name, "must not contain ':' (HTTP Basic auth)")
            values[name] = item
    if "retarus_customer_number" in data:
        item = data["retarus_customer_number"]
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not re.fullmatch(r"[A-Za-z0-9]+", item):
            raise _fail(source, "retarus_customer_number", "must be letters and digits only")
        values["retarus_customer_number"] = item
    if "retarus_placement" in data:
        if data["retarus_placement"] not in ("alternate", "hash"):
            raise _fail(source, "retarus_placement", "must be alternate or hash")
        values["retarus_placement"] = data["retarus_placement"]
    if "retarus_required" in data:
        if data["retarus_required"] not in ("minimal", "swagger"):
            raise _fail(source, "retarus_required", "must be minimal or swagger")
        values["retarus_required"] = data["retarus_required"]
    if "send_status" in data:
        if data["send_status"] not in (200, 201):
            raise _fail(source, "send_status", "must be 200 or 201")
        values["send_status"] = data["send_status"]
    if "status_delay" in data:
        delay = data["status_delay"]
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise _fail(source, "status_delay", "must be a number of seconds >= 0")
        values["status_delay"] = float(delay)
    timezone = data.get("timezone", Scenario.timezone)
    try:
        if not isinstance(timezone, str):
            raise ValueError(timezone)
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(source, "timezone", f"{timezone!r} is not an IANA time zone name") from None
    values["timezone"] = timezone
    if "rename_files" in data:
        if not isinstance(data["rename_files"], bool):
            raise _fail(source, "rename_files", "must be true or false")
        values["rename_files"] = data["rename_files"]
    if "dft_numbers" in data:
        values["dft_numbers"] = frozenset(_numbers(data["dft_numbers"], source, "dft_numbers"))
    if "failing_numbers" in data:
        values["failing_numbers"] = _failing(data["failing_numbers"], source)
    if "received" in data:
        values["received"] = tuple(_received(data["received"], tz, source, base))
    if data.get("generate_received") is not None:
        values["generate_received"] = _generate(data["generate_received"], tz, source)
    if "faults" in data:
        faults = data["faults"] or []
        if not isinstance(faults, list):
            raise _fail(source, "faults", "must be a list of fault rules")
        try:
            values["faults"] = tuple(
                parse_fault(rule, f"faults[{i}]") for i, rule in enumerate(faults)
            )
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    return Scenario(**values)


def load_scenario(path: Path) -> dict[str, Any]:
    """Read and check a scenario file; relative file paths in it become absolute.

    Raises ValueError with one sentence naming the file, the key and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(
            f"{path}: cannot read the scenario file ({exc.strerror}); check the --scenario path."
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: the scenario file is not UTF-8 text.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}: not valid YAML{where}; fix the syntax.") from None
    if data is None:
        return {}
    base = path.resolve().parent
    parse_scenario(data, str(path), base)
    if isinstance(data, dict):
        for entry in data.get("received") or []:
            for item in entry.get("files") or []:
                if "path" in item and not Path(item["path"]).is_absolute():
                    item["path"] = str(base / item["path"])
    return dict(data)
