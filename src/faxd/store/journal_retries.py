"""Held documents released and failed ones put back for retry: the journal's records of
both (mixed into faxd.store.journal.Journal), which `faxd release`, `faxd retry`, the
reports' history and retention read."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from faxd.model import TxState
from faxd.store.journal_part import JournalPart
from faxd.store.journal_rows import JobRow, RetryRow, decode_path, encode_path, retry_row
from faxd.store.rows import in_chunks

# A report lists at most this many earlier attempts of its document.
MAX_HISTORY = 50


def delivered_before(db: sqlite3.Connection, job_id: str) -> dict[str, str]:
    """Each number an earlier attempt of this job's document (put back by `faxd retry`)
    delivered, with the job that delivered it: a retry must not fax it a second time."""
    found: dict[str, str] = {}
    seen = {job_id}
    current = job_id
    while len(seen) <= MAX_HISTORY:
        row = db.execute("SELECT job_id FROM retries WHERE next_job = ?", (current,)).fetchone()
        if row is None or row[0] in seen:
            break
        current = str(row[0])
        seen.add(current)
        for (number,) in db.execute(
            "SELECT number FROM transmissions WHERE job_id = ? AND state = ?",
            (current, TxState.DELIVERED.value),
        ):
            found.setdefault(str(number), current)
    return found


class JournalRetries(JournalPart):
    """Release and retry records (mixed into faxd.store.journal.Journal)."""

    if TYPE_CHECKING:  # Journal's own, see faxd.store.journal_queries.JournalQueries

        def job(self, job_id: str) -> JobRow | None: ...

    # -- releases --------------------------------------------------------------------

    def start_release(
        self, job_id: str, numbers: Sequence[str], plan: Sequence[tuple[str, str]], when: float
    ) -> None:
        """Remember a held job's numbers and the moves that put it back, in one commit."""
        with self.transaction() as db:
            for number in numbers:
                db.execute(
                    "INSERT OR IGNORE INTO known_numbers(number, added_at, job_id) VALUES (?,?,?)",
                    (number, when, job_id),
                )
            db.execute(
                "INSERT INTO releases(job_id, plan, started_at) VALUES (?,?,?)",
                (job_id, json.dumps([[encode_path(a), encode_path(b)] for a, b in plan]), when),
            )

    def release_of(self, job_id: str) -> tuple[list[tuple[str, str]], float | None] | None:
        """A release's planned moves and when it finished (None: still under way)."""
        if not self.has_table("releases"):
            return None
        rows = self.query("SELECT plan, done_at FROM releases WHERE job_id = ?", (job_id,))
        if not rows:
            return None
        plan = [(decode_path(a), decode_path(b)) for a, b in json.loads(rows[0]["plan"])]
        return plan, rows[0]["done_at"]

    def finish_release(self, job_id: str, when: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE releases SET done_at = ? WHERE job_id = ?", (when, job_id))

    # -- retries ---------------------------------------------------------------------

    def record_retry(
        self,
        job_id: str,
        path: str,
        ino: int | None,
        report: str | None,
        note: str | None,
        when: float,
    ) -> None:
        """Remember, before its files move, that a failed job's document goes back to
        `path` for another attempt (again after a retry interrupted half way)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO retries(job_id, path, ino, retried_at, report, note) "
                "VALUES (?,?,?,?,?,?)",
                (job_id, encode_path(path), ino, when, report, note),
            )

    def set_retry_path(self, job_id: str, path: str) -> None:
        """The document landed under another free name than planned."""
        with self.transaction() as db:
            db.execute(
                "UPDATE retries SET path = ? WHERE job_id = ? AND next_job IS NULL",
                (encode_path(path), job_id),
            )

    def retry_of(self, job_id: str) -> RetryRow | None:
        """How a failed job was put back for retry, if it was."""
        return self.retries_of([job_id]).get(job_id)

    def retries_of(self, job_ids: Sequence[str]) -> dict[str, RetryRow]:
        """How each of these jobs was put back for retry, for those that were: a query per
        few hundred jobs, so `faxd history` over a year asks a handful of times."""
        found: dict[str, RetryRow] = {}
        if not job_ids or not self.has_table("retries"):
            return found
        for chunk, marks in in_chunks(job_ids):
            sql = f"SELECT * FROM retries WHERE job_id IN ({marks})"  # noqa: S608
            for row in self.query(sql, chunk):
                found[str(row["job_id"])] = retry_row(row)
        return found

    def earlier_attempts(self, job_id: str) -> list[tuple[JobRow, RetryRow]]:
        """The attempts before this job of the same document, newest first: each failed
        job `faxd retry` put back, with how it was put back."""
        found: list[tuple[JobRow, RetryRow]] = []
        if not self.has_table("retries"):
            return found
        current = job_id
        while len(found) < MAX_HISTORY:
            rows = self.query("SELECT * FROM retries WHERE next_job = ?", (current,))
            job = self.job(rows[0]["job_id"]) if rows else None
            if job is None or any(j.id == job.id for j, _ in found):
                break
            found.append((job, retry_row(rows[0])))
            current = job.id
        return found
