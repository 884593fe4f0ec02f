"""The inbox poller's status: a typed value whose JSON form is what the daemon has always
left in the journal for `faxd status`."""

from __future__ import annotations

import json

from faxd.core.inbox_status import InboxStatus

# A status as the daemon published it before it was typed.
PUBLISHED_BEFORE = {
    "provider": "docs",
    "inbox": "/srv/fax/inbox",
    "last_poll": "2026-11-23T12:00:00+00:00",
    "last_success": "2026-11-23T11:55:00+00:00",
    "received_today": 3,
    "watermark": "2026-11-23T11:40:00+00:00",
    "pending_deletes": 1,
    "incomplete_seconds": 0,
    "last_error": "connection refused",
}


def test_a_published_status_loads_and_writes_back_the_same_text() -> None:
    status = InboxStatus.from_json(json.loads(json.dumps(PUBLISHED_BEFORE, sort_keys=True)))
    assert status.received_today == 3 and status.last_error == "connection refused"
    assert status.to_json() == PUBLISHED_BEFORE
    assert status.dumps() == json.dumps(PUBLISHED_BEFORE, sort_keys=True)


def test_a_status_survives_the_journal() -> None:
    status = InboxStatus(provider="docs", inbox="/in", last_poll="2026-11-23T12:00:00+00:00")
    assert InboxStatus.from_json(json.loads(status.dumps())) == status


def test_missing_keys_take_their_defaults() -> None:
    status = InboxStatus.from_json({"inbox": "/in", "received_today": 2, "unknown": True})
    assert status == InboxStatus(provider="", inbox="/in", received_today=2)
    assert status.last_poll is None and status.last_error is None
