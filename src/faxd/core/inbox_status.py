"""How the inbox poller is doing, as a frozen value with its own JSON form: the daemon
leaves it in the journal for `faxd status` (another process), and the alerts read it.

`from_json` takes what a journal holds, whichever faxd wrote it: a key it lacks takes its
default and a key it does not know is ignored."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faxd.core import json_fields as field


@dataclass(frozen=True)
class InboxStatus:
    provider: str
    inbox: str  # the inbox folder
    last_poll: str | None = None  # ISO 8601; None: no poll yet
    last_success: str | None = None  # ISO 8601; None: no poll succeeded yet
    received_today: int = 0
    watermark: str | None = None  # ISO 8601; where the next poll continues
    pending_deletes: int = 0  # documents still to delete at the provider
    incomplete_seconds: int = 0  # seconds the provider could not list completely
    last_error: str | None = None  # None: the last poll succeeded

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "inbox": self.inbox,
            "last_poll": self.last_poll,
            "last_success": self.last_success,
            "received_today": self.received_today,
            "watermark": self.watermark,
            "pending_deletes": self.pending_deletes,
            "incomplete_seconds": self.incomplete_seconds,
            "last_error": self.last_error,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InboxStatus:
        return cls(
            provider=field.text(data, "provider"),
            inbox=field.text(data, "inbox"),
            last_poll=field.optional_text(data, "last_poll"),
            last_success=field.optional_text(data, "last_success"),
            received_today=field.count(data, "received_today"),
            watermark=field.optional_text(data, "watermark"),
            pending_deletes=field.count(data, "pending_deletes"),
            incomplete_seconds=field.count(data, "incomplete_seconds"),
            last_error=field.optional_text(data, "last_error"),
        )
