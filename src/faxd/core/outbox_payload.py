"""What an outbox row carries besides its columns, one frozen value per kind, with its own
JSON form (the outbox's `payload` column).

The JSON has the keys faxd has always written, so rows from before and after these types
are interchangeable. `from_json` takes the default of a key a row lacks (the default its
readers used) and ignores a key it does not know, so a journal written by an older faxd
still loads. A print channel adds `cups_job` once a print is queued, so it is never printed
twice; alerts have no file to print and never carry one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faxd.core import json_fields as field


def _with_cups_job(data: dict[str, Any], cups_job: str | None) -> dict[str, Any]:
    if cups_job is not None:
        data["cups_job"] = cups_job
    return data


@dataclass(frozen=True)
class NoticePayload:
    """A notice about a job: everything else it says is read from the job when it is sent."""

    attach: str = "report"  # none | report | document
    cups_job: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _with_cups_job({"attach": self.attach}, self.cups_job)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NoticePayload:
        return cls(
            attach=field.text(data, "attach", "report"),
            cups_job=field.optional_text(data, "cups_job"),
        )


@dataclass(frozen=True)
class DeliveryPayload:
    """A received document handed to a channel (mail, print, webhook, command)."""

    path: str  # the file in the inbox folder
    attach: str = "document"  # none | report | document
    number: str | None = None  # the number of ours it was sent to
    sender: str | None = None  # None when the provider did not say
    received_id: str | None = None  # the provider's document id
    meta_path: str | None = None  # its metadata YAML, which lists how each delivery ended
    cups_job: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "path": self.path,
            "attach": self.attach,
            "number": self.number,
            "sender": self.sender,
            "received_id": self.received_id,
            "meta_path": self.meta_path,
        }
        return _with_cups_job(data, self.cups_job)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeliveryPayload:
        return cls(
            path=field.text(data, "path"),
            attach=field.text(data, "attach", "document"),
            number=field.optional_text(data, "number"),
            sender=field.optional_text(data, "sender"),
            received_id=field.optional_text(data, "received_id"),
            meta_path=field.optional_text(data, "meta_path"),
            cups_job=field.optional_text(data, "cups_job"),
        )


@dataclass(frozen=True)
class AlertPayload:
    """An alert to the administrator: what happened and what to do about it."""

    title: str = ""
    text: str = ""
    advice: str = ""

    def to_json(self) -> dict[str, Any]:
        # Sorted, as read back from the column: these are also the alert's event fields.
        return {"advice": self.advice, "text": self.text, "title": self.title}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertPayload:
        return cls(field.text(data, "title"), field.text(data, "text"), field.text(data, "advice"))


OutboxPayload = NoticePayload | DeliveryPayload | AlertPayload


def received_subject(remote_id: str, file_id: str) -> str:
    """The `subject` of the deliveries of a received file; a notice's is its job's id."""
    return f"{remote_id}.{file_id}"


def from_json(kind: str, data: Mapping[str, Any]) -> OutboxPayload:
    """The payload of a row of `kind`; any kind but a notice or delivery reads as an alert
    (they are composed alike)."""
    if kind == "notice":
        return NoticePayload.from_json(data)
    if kind == "delivery":
        return DeliveryPayload.from_json(data)
    return AlertPayload.from_json(data)


def dumps(payload: OutboxPayload | None) -> str:
    """The column's text; None (a row with nothing to say) is stored as `{}`."""
    return json.dumps(payload.to_json() if payload is not None else {}, sort_keys=True)


def loads(kind: str, text: str | None) -> OutboxPayload:
    data = json.loads(text or "{}")
    return from_json(kind, data if isinstance(data, Mapping) else {})
