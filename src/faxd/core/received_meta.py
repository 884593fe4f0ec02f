"""What faxd knows of one received file, as a frozen value with its own JSON form (the
inbound ledger's `meta` column, from which the file's sidecar is written).

`from_json` reads every form faxd has written: a row noted before its download (a retry,
a refusal) has no size or checksum yet, a key it lacks takes its default, and a key it
does not know is ignored, so a journal written by an older faxd still loads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from faxd.core import json_fields as field


@dataclass(frozen=True)
class ReceivedMeta:
    remote_id: str  # the provider's document id ("id" in the JSON and the sidecar)
    file_id: str
    original_name: str
    sender: str
    recipient: str  # the number of ours it was sent to
    time: str  # when the provider received it, ISO 8601 in faxd's zone
    type: str
    status: str
    provider: str
    files: int = 1  # files in the whole document
    size: int | None = None  # None until the file is downloaded
    sha256: str | None = None  # None until the file is downloaded

    def downloaded(self, size: int, sha256: str) -> ReceivedMeta:
        return replace(self, size=size, sha256=sha256)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.remote_id,
            "file_id": self.file_id,
            "original_name": self.original_name,
            "sender": self.sender,
            "recipient": self.recipient,
            "time": self.time,
            "type": self.type,
            "status": self.status,
            "provider": self.provider,
            "files": self.files,
        }
        if self.size is not None:
            data["size"] = self.size
        if self.sha256 is not None:
            data["sha256"] = self.sha256
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReceivedMeta:
        return cls(
            remote_id=field.text(data, "id"),
            file_id=field.text(data, "file_id"),
            original_name=field.text(data, "original_name"),
            sender=field.text(data, "sender"),
            recipient=field.text(data, "recipient"),
            time=field.text(data, "time"),
            type=field.text(data, "type"),
            status=field.text(data, "status"),
            provider=field.text(data, "provider"),
            files=field.count(data, "files", 1),
            size=field.optional_count(data, "size"),
            sha256=field.optional_text(data, "sha256"),
        )

    @classmethod
    def loads(cls, text: str | None) -> ReceivedMeta:
        data = json.loads(text or "{}")
        return cls.from_json(data if isinstance(data, Mapping) else {})
