"""The report written beside an archived document: its keys, in order."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import yaml

from faxd.core.report import EarlierAttempt, RecipientOutcome, render_report

FIELDS: dict[str, Any] = {
    "document": "invoice.pdf",
    "result": "failed",
    "provider": "docs",
    "reference": "R1",
    "received_at": 1_700_000_000.0,
    "finished_at": None,
    "recipients": [RecipientOutcome("+46812345678", "fax", "X1", "BUSY", 2, "busy")],
    "error": "+46812345678: busy",
    "job_id": "j2",
    "rule": "sidecar",
    "tz": UTC,
}
KEYS = [
    "document",
    "result",
    "provider",
    "reference",
    "received_at",
    "finished_at",
    "recipients",
    "error",
    "job",
    "addressed_by",
    "attachments",
]


def test_without_history_or_notes_neither_key_is_written() -> None:
    report = yaml.safe_load(render_report(**FIELDS))
    assert list(report) == KEYS
    assert report["received_at"] == "2023-11-14T22:13:20+00:00"
    assert report["attachments"] == []


def test_notes_come_last_after_the_history() -> None:
    earlier = EarlierAttempt("j1", "failed", None, None, 1_700_000_060.0, note="new number")
    text = render_report(**FIELDS, history=[earlier], notes=["changed in the spool folder"])
    report = yaml.safe_load(text)
    assert list(report) == [*KEYS, "history", "notes"]
    assert report["history"][0]["note"] == "new number"
    assert text.endswith("notes:\n- changed in the spool folder\n")
