"""The audit outbox: every event of the audit log is first a row here, inserted in the
same transaction as the state it records. A drainer copies the rows, in commit order, to
the hash-chained audit file and then deletes them; a crash in between is repaired on the
next start, so a committed state is never missing from the log and an uncommitted one is
never in it."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuditRow:
    seq: int
    ts: float
    event: str
    data: dict[str, Any]


def record(db: sqlite3.Connection, event: str, ts: float | None = None, **data: Any) -> None:
    """Queue one audit event inside the caller's open transaction."""
    clean = {key: value for key, value in data.items() if value is not None}
    db.execute(
        "INSERT INTO audit_outbox(ts, event, data) VALUES (?, ?, ?)",
        (time.time() if ts is None else ts, event, json.dumps(clean, sort_keys=True)),
    )


def pending(db: sqlite3.Connection, limit: int = 1000) -> list[AuditRow]:
    rows = db.execute(
        "SELECT seq, ts, event, data FROM audit_outbox ORDER BY seq LIMIT ?", (limit,)
    ).fetchall()
    return [AuditRow(int(r[0]), float(r[1]), str(r[2]), json.loads(r[3])) for r in rows]


def acknowledge(db: sqlite3.Connection, up_to: int) -> None:
    db.execute("DELETE FROM audit_outbox WHERE seq <= ?", (up_to,))
