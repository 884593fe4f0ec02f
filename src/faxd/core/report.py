"""The report written beside an archived document, as a pure function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from faxd.core import yaml_text


@dataclass(frozen=True)
class RecipientOutcome:
    number: str
    method: str | None
    id: str | None
    status: str | None
    attempts: int
    error: str | None


@dataclass(frozen=True)
class EarlierAttempt:
    """An attempt of the same document before this one, which `faxd retry` put back."""

    job: str
    result: str
    finished_at: float | None
    error: str | None
    retried_at: float
    note: str | None = None
    delivered: Sequence[str] = ()  # reached by that attempt, so not sent again since


def iso(ts: float | None, tz: tzinfo | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz).astimezone(tz).isoformat(timespec="seconds")


def render_report(
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
    history: Sequence[EarlierAttempt] = (),  # oldest first
    notes: Sequence[str] = (),
) -> str:
    """The report's YAML text: keys in this order, `history` and `notes` only when given."""
    report: dict[str, Any] = {
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
    if history:
        # Each earlier attempt's own report files left failed/ when it was retried.
        report["history"] = [
            {
                "job": h.job,
                "result": h.result,
                "finished_at": iso(h.finished_at, tz),
                "error": h.error,
                "retried_at": iso(h.retried_at, tz),
                **({"note": h.note} if h.note else {}),
                **({"delivered": list(h.delivered)} if h.delivered else {}),
            }
            for h in history
        ]
    notes = [*carried_notes(history), *notes]
    if notes:
        report["notes"] = notes
    return yaml_text.dump(report)


def carried_notes(history: Sequence[EarlierAttempt]) -> list[str]:
    """One sentence per recipient an earlier attempt reached: this attempt left it out."""
    return [
        f"{number} was delivered by job {h.job} already and was not sent again."
        for h in history
        for number in h.delivered
    ]


def failure_summary(recipients: Sequence[RecipientOutcome]) -> str | None:
    """One sentence for the report's top-level `error`: which recipients failed and why."""
    failed = [r for r in recipients if r.error]
    if not failed:
        return None
    parts = [f"{r.number}: {r.error}" for r in failed]
    return "; ".join(parts)
