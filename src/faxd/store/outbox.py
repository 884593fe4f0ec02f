"""The outbox: every notice, delivery and alert faxd owes somebody, as journal rows.

A row is inserted in the same transaction as the state change that causes it (a job
failing, a document received), attempted only after that commit, and marked done only
after its channel accepted it. Its id is stable, so the one window a crash can hit (the
channel accepted, the `done` commit was lost) repeats the same Message-ID or event id,
which receivers use to drop the duplicate. Rows are tried in order per target (a channel
and its address): a recipient whose server defers it holds up only its own rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from faxd.core import outbox_payload
from faxd.core.outbox_payload import OutboxPayload
from faxd.store import audit_outbox

if TYPE_CHECKING:
    from faxd.store.journal import Journal


class OutboxState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # gave up: shown in `faxd status`, raised as a delivery_failed alert


@dataclass(frozen=True)
class NewDelivery:
    id: str  # stable: the Message-ID and X-Faxd-Event-Id derive from it
    kind: str  # notice | delivery | alert | test
    event: str
    target: str  # CHANNEL or CHANNEL:ADDRESS
    created_at: float
    subject: str | None = None  # the job id or received document it is about
    payload: OutboxPayload | None = None  # None: nothing to say, stored as `{}`

    @property
    def channel(self) -> str:
        return self.target.partition(":")[0]


@dataclass(frozen=True)
class DeliveryRow:
    seq: int
    id: str
    kind: str
    event: str
    channel: str
    target: str
    subject: str | None
    payload: OutboxPayload  # of the type its kind has
    state: OutboxState
    attempts: int
    created_at: float
    next_attempt_at: float
    done_at: float | None
    error: str | None

    @property
    def address(self) -> str | None:
        _, sep, rest = self.target.partition(":")
        return rest if sep else None


def _row(r: sqlite3.Row) -> DeliveryRow:
    # By hand, not with rows.row_mapper: the payload's type depends on the row's kind.
    return DeliveryRow(
        seq=r["seq"],
        id=r["id"],
        kind=r["kind"],
        event=r["event"],
        channel=r["channel"],
        target=r["target"],
        subject=r["subject"],
        payload=outbox_payload.loads(r["kind"], r["payload"]),
        state=OutboxState(r["state"]),
        attempts=r["attempts"],
        created_at=r["created_at"],
        next_attempt_at=r["next_attempt_at"],
        done_at=r["done_at"],
        error=r["error"],
    )


def insert(db: sqlite3.Connection, rows: Iterable[NewDelivery]) -> int:
    """Add rows inside the caller's transaction; a row whose id exists is left alone, so
    planning the same event again after a crash adds nothing."""
    added = 0
    for r in rows:
        cur = db.execute(
            "INSERT OR IGNORE INTO outbox(id, kind, event, channel, target, subject, payload, "
            "created_at, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                r.id,
                r.kind,
                r.event,
                r.channel,
                r.target,
                r.subject,
                outbox_payload.dumps(r.payload),
                r.created_at,
                r.created_at,
            ),
        )
        added += cur.rowcount
    return added


class Outbox:
    """Reads and updates outbox rows in the shared journal. Thread-safe (the journal's lock)."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def add(self, rows: Sequence[NewDelivery], *, flag: str | None = None) -> int:
        """Commit rows on their own (alerts, tests); `flag` is a kv key set in the same
        transaction, so a condition is alerted once until it clears."""
        with self._journal.transaction() as db:
            if flag is not None:
                db.execute(
                    "INSERT INTO kv(key, value) VALUES(?, '1') ON CONFLICT(key) DO NOTHING",
                    (flag,),
                )
            return insert(db, rows)

    def get(self, row_id: str) -> DeliveryRow | None:
        rows = self._journal.query("SELECT * FROM outbox WHERE id = ?", (row_id,))
        return _row(rows[0]) if rows else None

    def pending(self, channel: str, limit: int = 100) -> list[DeliveryRow]:
        """A channel's unfinished rows, oldest first."""
        rows = self._journal.query(
            "SELECT * FROM outbox WHERE state = ? AND channel = ? ORDER BY seq LIMIT ?",
            (OutboxState.PENDING.value, channel, limit),
        )
        return [_row(r) for r in rows]

    def due(self, channel: str, now: float, limit: int = 100) -> list[DeliveryRow]:
        """A channel's unfinished rows, oldest first, but for targets with a row waiting
        for its retry (a later row never overtakes one to the same target)."""
        pending = OutboxState.PENDING.value
        rows = self._journal.query(
            "SELECT * FROM outbox WHERE state = ? AND channel = ? AND target NOT IN "
            "(SELECT target FROM outbox WHERE state = ? AND channel = ? AND next_attempt_at > ?)"
            " ORDER BY seq LIMIT ?",
            (pending, channel, pending, channel, now, limit),
        )
        return [_row(r) for r in rows]

    def next_retry(self, channel: str, now: float) -> float | None:
        """When the channel's first row waiting for its retry is due (None: none waits).
        The rows behind one wait with it, whatever their own time says."""
        rows = self._journal.query(
            "SELECT MIN(next_attempt_at) AS t FROM outbox "
            "WHERE state = ? AND channel = ? AND next_attempt_at > ?",
            (OutboxState.PENDING.value, channel, now),
        )
        found = rows[0]["t"]
        return None if found is None else float(found)

    def last_seq(self) -> int:
        rows = self._journal.query("SELECT MAX(seq) AS s FROM outbox")
        return int(rows[0]["s"] or 0)

    def pending_channels(self) -> set[str]:
        rows = self._journal.query(
            "SELECT DISTINCT channel FROM outbox WHERE state = ?", (OutboxState.PENDING.value,)
        )
        return {str(r["channel"]) for r in rows}

    def set_payload(self, row_id: str, payload: OutboxPayload) -> None:
        """Record progress an attempt must not repeat (the CUPS job a print became)."""
        with self._journal.transaction() as db:
            db.execute(
                "UPDATE outbox SET payload = ? WHERE id = ?",
                (outbox_payload.dumps(payload), row_id),
            )

    def mark_done(self, row_id: str, when: float) -> None:
        with self._journal.transaction() as db:
            cur = db.execute(
                "UPDATE outbox SET state = ?, done_at = ?, attempts = attempts + 1, error = NULL "
                "WHERE id = ? AND state = ?",
                (OutboxState.DONE.value, when, row_id, OutboxState.PENDING.value),
            )
            if cur.rowcount:  # the audit log records it in the same transaction
                row = db.execute(
                    "SELECT kind, event, channel, subject FROM outbox WHERE id = ?", (row_id,)
                ).fetchone()
                audit_outbox.record(
                    db,
                    "delivered to a channel",
                    id=row_id,
                    kind=row["kind"],
                    about=row["event"],
                    channel=row["channel"],
                    subject=row["subject"],
                )

    def mark_retry(self, row_id: str, error: str, next_at: float, *, count: bool = True) -> None:
        with self._journal.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + ?, error = ?, next_attempt_at = ? "
                "WHERE id = ? AND state = ?",
                (int(count), error, next_at, row_id, OutboxState.PENDING.value),
            )

    def mark_failed(
        self, row_id: str, error: str, when: float, alerts: Sequence[NewDelivery] = ()
    ) -> None:
        """Give up on a row; the alert about it is committed with the change."""
        with self._journal.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, error = ?, done_at = ? "
                "WHERE id = ? AND state = ?",
                (OutboxState.FAILED.value, error, when, row_id, OutboxState.PENDING.value),
            )
            insert(db, alerts)

    def rows(
        self, where: str = "1", params: Sequence[Any] = (), limit: int = 50
    ) -> list[DeliveryRow]:
        rows = self._journal.query(
            f"SELECT * FROM outbox WHERE {where} ORDER BY seq DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self._journal.query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        return {str(r["state"]): int(r["n"]) for r in rows}

    def by_subject(self, subject: str) -> list[DeliveryRow]:
        rows = self._journal.query(
            "SELECT * FROM outbox WHERE subject = ? ORDER BY seq", (subject,)
        )
        return [_row(r) for r in rows]

    def flag(self, key: str) -> bool:
        return self._journal.get_value(key) is not None

    def clear_flag(self, key: str) -> None:
        self._journal.delete_value(key)
