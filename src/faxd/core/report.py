"""The report written beside an archived document, as a pure function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import yaml


@dataclass(frozen=True)
class RecipientOutcome:
    number: str
    method: str | None
    id: str | None
    status: str | None
    attempts: int
    error: str | None


def iso(ts: float | None, tz: tzinfo | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz).astimezone(tz).isoformat(timespec="seconds")


def build_report(
    *,
    document: str,
    result: str,
    provider: str,
    reference: str | None,
    received_at: float,
    finished_at: float | None,
    recipients: Sequence[RecipientOutcome],
    error: str | None,
    job_id: str,
    rule: str | None,
    attachments: Sequence[str] = (),
    tz: tzinfo | None = None,
) -> dict[str, Any]:
    return {
        "document": document,
        "result": result,
        "provider": provider,
        "reference": reference,
        "received_at": iso(received_at, tz),
        "finished_at": iso(finished_at, tz),
        "recipients": [
            {
                "number": r.number,
                "method": r.method,
                "id": r.id,
                "status": r.status,
                "attempts": r.attempts,
                "error": r.error,
            }
            for r in recipients
        ],
        "error": error,
        "job": job_id,
        "addressed_by": rule,
        "attachments": list(attachments),
    }


def render_report(report: dict[str, Any]) -> str:
    return yaml.safe_dump(report, sort_keys=False, allow_unicode=True, default_flow_style=False)


def failure_summary(recipients: Sequence[RecipientOutcome]) -> str | None:
    """One sentence for the report's top-level `error`: which recipients failed and why."""
    failed = [r for r in recipients if r.error]
    if not failed:
        return None
    parts = [f"{r.number}: {r.error}" for r in failed]
    return "; ".join(parts)
