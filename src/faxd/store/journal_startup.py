"""What a start reads and resets to reconcile the journal with the folders: uploads a
crash caught in `submitting`, finished jobs still to be filed, and the files unfiled jobs
hold (mixed into faxd.store.journal.Journal). The engine resets interrupted uploads again
once a journal that could not be written takes writes."""

from __future__ import annotations

import json

from faxd.model import FINAL_TX_STATES, JobState, TxState
from faxd.store.journal_part import JournalPart
from faxd.store.journal_rows import JobRow, decode_path, job_row


class JournalStartup(JournalPart):
    """Start-up reconciliation (mixed into faxd.store.journal.Journal)."""

    def reset_interrupted(self, now: float) -> int:
        """After a crash: a transmission caught in SUBMITTING may have reached the provider.
        Its lookups start from none, as after an answer lost in flight: the lookups of an
        earlier attempt were about an upload that did not happen."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE transmissions SET state = ?, lookups = 0, next_attempt_at = ?, "
                "updated_at = ? WHERE state = ?",
                (TxState.OUTCOME_UNKNOWN.value, now, now, TxState.SUBMITTING.value),
            )
            return cur.rowcount

    def unarchived_final_jobs(self) -> list[JobRow]:
        rows = self.query(
            # `+state`: look among the unarchived jobs (a few), not among every finished one.
            "SELECT * FROM jobs WHERE archived_at IS NULL AND +state IN (?, ?, ?)",
            (JobState.DELIVERED.value, JobState.FAILED.value, JobState.HELD.value),
        )
        return [job_row(r) for r in rows]

    def unfiled_ids_all_final(self) -> list[str]:
        """Unfiled jobs with transmissions, every one of them final: one query, however
        many jobs a start-up finds under way."""
        marks = ",".join("?" for _ in FINAL_TX_STATES)
        rows = self.query(
            "SELECT j.id FROM jobs j WHERE j.archived_at IS NULL "  # noqa: S608
            "AND EXISTS (SELECT 1 FROM transmissions t WHERE t.job_id = j.id) "
            "AND NOT EXISTS (SELECT 1 FROM transmissions t WHERE t.job_id = j.id "
            f"AND t.state NOT IN ({marks})) ORDER BY j.received_at DESC",
            [s.value for s in FINAL_TX_STATES],
        )
        return [str(r["id"]) for r in rows]

    def active_paths(self) -> set[str]:
        """Every file an unarchived job holds: documents, sidecars and attachments."""
        held: set[str] = set()
        for row in self.query(
            "SELECT path, sidecar, attachments FROM jobs WHERE archived_at IS NULL"
        ):
            held.add(decode_path(row["path"]))
            if row["sidecar"]:
                held.add(decode_path(row["sidecar"]))
            held.update(json.loads(row["attachments"]))
        return held
