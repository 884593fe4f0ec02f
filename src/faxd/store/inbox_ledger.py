"""Where received documents are kept track of: the inbound tables in the shared journal
(the inbox folders themselves: faxd.host.inbox_folder).

One row per (remote id, file id), whatever the provider is called in the configuration
(renaming it must not download the last day again). Its life:
  downloading  the file is complete in `.tmp/` and about to be renamed to `path`;
               committed BEFORE the rename, with the file's sha256, so a crash between the
               rename and the final commit is recognised at start-up instead of downloading
               a second copy;
  delivered    the file and its sidecar are in place; never downloaded again;
  missing      the provider refused the file (404): tried again on the next cycles;
  retry        the download ran past its deadline (or faxd was stopping): tried again;
  unavailable  … and still refused after a few cycles, or larger than faxd accepts.
A delivered row is final: a late writer (a poller stopped by a reload) can never turn it
back into `downloading` or point it at another path.

A document's remote deletion is queued in the same transaction that delivers its last file,
and done only after that commit; never for a document with an unavailable file (the
provider's Delete removes every file's content, the only copy of the one faxd gave up on)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from faxd.core.received_meta import ReceivedMeta
from faxd.store import audit_outbox
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery
from faxd.store.outbox import insert as insert_outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound (
    remote_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,
    path TEXT,
    sha256 TEXT,
    size INTEGER,
    meta TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    refusals INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    delivered_at REAL,
    PRIMARY KEY (remote_id, file_id)
);
CREATE INDEX IF NOT EXISTS inbound_state ON inbound(state, delivered_at);
CREATE TABLE IF NOT EXISTS inbound_deletes (
    remote_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    queued_at REAL NOT NULL,
    done_at REAL
);
"""


class InboundState(StrEnum):
    DOWNLOADING = "downloading"
    DELIVERED = "delivered"
    UNAVAILABLE = "unavailable"
    MISSING = "missing"  # the provider would not hand the file out yet: tried again
    RETRY = "retry"  # the download ran out of time or was stopped: tried again


DONE_STATES = (InboundState.DELIVERED, InboundState.UNAVAILABLE)
# Added to the error of a document's unavailable files once the document is kept at the
# provider instead of deleted (delete_after_download).
KEPT_NOTE = " The document is kept at the provider, not deleted after download."


@dataclass(frozen=True)
class InboundRow:
    remote_id: str
    file_id: str
    state: InboundState
    path: Path | None
    sha256: str | None
    size: int | None
    meta: ReceivedMeta
    error: str | None
    attempts: int  # every try: downloads begun, stopped, refused
    refusals: int = 0  # answers that were no file: refused, empty, a web page


class InboxLedger:
    """The inbound tables of the shared journal, for one provider. Thread-safe (the
    journal serialises access)."""

    def __init__(self, journal: Journal, provider: str) -> None:
        self._journal = journal
        self.provider = provider
        with journal.transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            # A journal from before refusals were counted apart from other tries.
            have = {row[1] for row in db.execute("PRAGMA table_info(inbound)")}
            if "refusals" not in have:
                db.execute("ALTER TABLE inbound ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0")

    # -- the watermark -----------------------------------------------------------------

    @property
    def _watermark_key(self) -> str:
        return f"inbound.watermark.{self.provider}"

    def watermark(self) -> datetime | None:
        """The end of the last window whose every document is safely delivered."""
        value = self._journal.get_value(self._watermark_key)
        return datetime.fromisoformat(value) if value else None

    def set_watermark(self, moment: datetime) -> None:
        self._journal.set_value(self._watermark_key, moment.isoformat())

    # -- files -------------------------------------------------------------------------

    def row(self, remote_id: str, file_id: str) -> InboundRow | None:
        rows = self._journal.query(
            "SELECT * FROM inbound WHERE remote_id = ? AND file_id = ?",
            (remote_id, file_id),
        )
        return _row(rows[0]) if rows else None

    def interrupted(self) -> list[InboundRow]:
        """Files caught by a crash between their rename into place and their final commit."""
        rows = self._journal.query(
            "SELECT * FROM inbound WHERE provider = ? AND state = ?",
            (self.provider, InboundState.DOWNLOADING.value),
        )
        return [_row(r) for r in rows]

    def plan(
        self,
        remote_id: str,
        file_id: str,
        path: Path,
        sha256: str,
        size: int,
        meta: ReceivedMeta,
        when: float,
    ) -> bool:
        """Commit the name a downloaded file is about to be renamed to. False (nothing
        changed) when the file is already delivered: the caller must drop its copy."""
        with self._journal.transaction() as db:
            cursor = db.execute(
                "INSERT INTO inbound(provider, remote_id, file_id, state, path, sha256, size, "
                "meta, attempts, updated_at) VALUES (?,?,?,?,?,?,?,?,1,?) "
                "ON CONFLICT(remote_id, file_id) DO UPDATE SET state = excluded.state, "
                "provider = excluded.provider, path = excluded.path, "
                "sha256 = excluded.sha256, size = excluded.size, "
                "meta = excluded.meta, attempts = attempts + 1, error = NULL, "
                "updated_at = excluded.updated_at WHERE inbound.state != 'delivered'",
                (
                    self.provider,
                    remote_id,
                    file_id,
                    InboundState.DOWNLOADING.value,
                    str(path),
                    sha256,
                    size,
                    meta.dumps(),
                    when,
                ),
            )
            return cursor.rowcount > 0

    def deliver(
        self,
        remote_id: str,
        file_id: str,
        when: float,
        *,
        files_in_document: int,
        queue_delete: bool,
        outbox: Sequence[NewDelivery] = (),
    ) -> bool:
        """Commit a file as delivered. Returns True when this completed its document and
        the document's remote deletion was queued in the same transaction. `outbox`: the
        deliveries it causes (mail, print...), committed with it. The deletion is queued
        only when every file of the document is delivered: one given up (unavailable)
        exists nowhere but at the provider (see `keep_at_provider`).

        Not waited for: the file and its metadata are on disk before it, and a crash that
        loses it leaves the row `downloading` with the file in place, which the next cycle
        delivers again, outbox rows and all (the poller's _finish_in_place). What acts on
        the commit reads it durably first (the outbox and audit readers); the remote
        deletion it queues removes only what is already safe here."""
        with self._journal.transaction(durable=False) as db:
            insert_outbox(db, outbox)
            db.execute(
                "UPDATE inbound SET state = ?, delivered_at = ?, updated_at = ? "
                "WHERE remote_id = ? AND file_id = ? AND state = ?",
                (
                    InboundState.DELIVERED.value,
                    when,
                    when,
                    remote_id,
                    file_id,
                    InboundState.DOWNLOADING.value,
                ),
            )
            got = db.execute(
                "SELECT path, sha256 FROM inbound WHERE remote_id = ? AND file_id = ?",
                (remote_id, file_id),
            ).fetchone()
            audit_outbox.record(
                db, "received", id=remote_id, file=file_id, path=got[0], sha256=got[1]
            )
            if not queue_delete:
                return False
            delivered = db.execute(
                "SELECT COUNT(*) FROM inbound WHERE remote_id = ? AND state = ?",
                (remote_id, InboundState.DELIVERED.value),
            ).fetchone()[0]
            if delivered < files_in_document:
                return False
            db.execute(
                "INSERT OR IGNORE INTO inbound_deletes(provider, remote_id, queued_at) "
                "VALUES (?,?,?)",
                (self.provider, remote_id, when),
            )
            return True

    def keep_at_provider(self, remote_id: str, files_in_document: int, when: float) -> list[str]:
        """A document whose every file is done but some given up is kept at the provider
        (never queued for deletion): note that on its unavailable rows, once. Returns the
        file ids newly noted; empty while the document is not done, when nothing was given
        up, or when it was noted before."""
        # A read first: called after most files' commits, and nearly always nothing to note.
        seen = self._journal.query(
            "SELECT 1 FROM inbound WHERE remote_id = ? AND state = ? LIMIT 1",
            (remote_id, InboundState.UNAVAILABLE.value),
            durable=False,
        )
        if not seen:
            return []
        with self._journal.transaction() as db:
            rows = db.execute(
                "SELECT file_id, state, error FROM inbound WHERE remote_id = ?", (remote_id,)
            ).fetchall()
            done = [r for r in rows if r[1] in {s.value for s in DONE_STATES}]
            given_up = [r for r in done if r[1] == InboundState.UNAVAILABLE.value]
            if len(done) < files_in_document or not given_up:
                return []
            fresh = [r for r in given_up if not (r[2] or "").endswith(KEPT_NOTE)]
            for file_id, _, error in fresh:
                db.execute(
                    "UPDATE inbound SET error = ?, updated_at = ? WHERE remote_id = ? "
                    "AND file_id = ? AND state = ?",
                    (
                        (error or "not downloaded.") + KEPT_NOTE,
                        when,
                        remote_id,
                        file_id,
                        InboundState.UNAVAILABLE.value,
                    ),
                )
            return [str(r[0]) for r in fresh]

    def mark_unavailable(
        self, remote_id: str, file_id: str, error: str, meta: ReceivedMeta, when: float
    ) -> None:
        """Give a file up for good; the poller's window may move past it."""
        self._upsert_failure(remote_id, file_id, InboundState.UNAVAILABLE, error, meta, when)

    def _upsert_failure(
        self,
        remote_id: str,
        file_id: str,
        state: InboundState,
        error: str,
        meta: ReceivedMeta,
        when: float,
        *,
        refused: bool = False,
    ) -> None:
        with self._journal.transaction() as db:
            db.execute(
                "INSERT INTO inbound(provider, remote_id, file_id, state, meta, error, attempts, "
                "refusals, updated_at) VALUES (?,?,?,?,?,?,1,?,?) "
                "ON CONFLICT(remote_id, file_id) DO UPDATE SET state = excluded.state, "
                "error = excluded.error, attempts = attempts + 1, "
                "refusals = refusals + excluded.refusals, updated_at = excluded.updated_at "
                "WHERE inbound.state != 'delivered'",
                (
                    self.provider,
                    remote_id,
                    file_id,
                    state.value,
                    meta.dumps(),
                    error,
                    int(refused),
                    when,
                ),
            )

    def note_attempt(
        self, remote_id: str, file_id: str, error: str, meta: ReceivedMeta, when: float
    ) -> None:
        """Count a failed try at a file the provider would not hand out (yet)."""
        self._upsert_failure(
            remote_id, file_id, InboundState.MISSING, error, meta, when, refused=True
        )

    def note_retry(
        self, remote_id: str, file_id: str, error: str, meta: ReceivedMeta, when: float
    ) -> None:
        """Count a download cut off by its deadline (or a stop); it is tried again."""
        self._upsert_failure(remote_id, file_id, InboundState.RETRY, error, meta, when)

    # -- windows that could not be listed completely -----------------------------------

    @property
    def _unresolved_key(self) -> str:
        return f"inbound.unresolved.{self.provider}"

    def unresolved(self) -> list[dict[str, str]]:
        """Windows whose listing stayed cut off at the page limit: listed again each poll."""
        value = self._journal.get_value(self._unresolved_key)
        return list(json.loads(value)) if value else []

    def set_unresolved(self, windows: list[dict[str, str]]) -> None:
        self._journal.set_value(self._unresolved_key, json.dumps(windows))

    def delivered_since(self, when: float) -> int:
        rows = self._journal.query(
            "SELECT COUNT(*) AS n FROM inbound WHERE state = ? AND delivered_at >= ?",
            (InboundState.DELIVERED.value, when),
        )
        return int(rows[0]["n"])

    # -- remote deletions --------------------------------------------------------------

    def pending_deletes(self) -> list[str]:
        rows = self._journal.query(
            "SELECT remote_id FROM inbound_deletes WHERE provider = ? AND done_at IS NULL "
            "ORDER BY queued_at",
            (self.provider,),
        )
        return [str(r["remote_id"]) for r in rows]

    def delete_done(self, remote_id: str, when: float) -> None:
        with self._journal.transaction() as db:
            db.execute(
                "UPDATE inbound_deletes SET done_at = ? WHERE remote_id = ?",
                (when, remote_id),
            )


def _row(row: Any) -> InboundRow:
    return InboundRow(
        remote_id=row["remote_id"],
        file_id=row["file_id"],
        state=InboundState(row["state"]),
        path=Path(row["path"]) if row["path"] else None,
        sha256=row["sha256"],
        size=row["size"],
        meta=ReceivedMeta.loads(row["meta"]),
        error=row["error"],
        attempts=row["attempts"],
        refusals=row["refusals"],
    )
