"""What the engine, the archive, the notices, `faxd status` and the commands read of jobs
and transmissions (mixed into faxd.store.journal.Journal)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from faxd.model import FINAL_TX_STATES, JobState, TxState
from faxd.store.journal_part import JournalPart
from faxd.store.journal_rows import DueTx, JobRow, QueueCounts, TxRow, encode_path, job_row, tx_row
from faxd.store.rows import in_chunks, is_text

ACTIVE_TX_STATES = (
    TxState.READY,
    TxState.WAITING,
    TxState.SUBMITTING,
    TxState.OUTCOME_UNKNOWN,
    TxState.SUBMITTED,
)


# The reads of one job and its transmissions, alone or together with others.
_JOB = "SELECT * FROM jobs WHERE id = ?"
_JOB_TXS = "SELECT * FROM transmissions WHERE job_id = ? ORDER BY idx"
_TX = "SELECT * FROM transmissions WHERE job_id = ? AND idx = ?"
_IN_FLIGHT = (TxState.SUBMITTING, TxState.OUTCOME_UNKNOWN, TxState.SUBMITTED)


class JournalQueries(JournalPart):
    """Reads of jobs and transmissions (mixed into faxd.store.journal.Journal)."""

    # -- jobs --------------------------------------------------------------------------

    def job(self, job_id: str) -> JobRow | None:
        if not is_text(job_id):
            return None  # typed by hand with bytes no job id has
        rows = self.query(_JOB, (job_id,))
        return job_row(rows[0]) if rows else None

    def jobs(self, where: str = "1", params: Sequence[Any] = (), limit: int = 1000) -> list[JobRow]:
        rows = self.query(
            f"SELECT * FROM jobs WHERE {where} ORDER BY received_at DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [job_row(r) for r in rows]

    def unfiled_among(self, job_ids: Sequence[str]) -> set[str]:
        """Which of `job_ids` are jobs not filed yet (an index probe per id)."""
        found: set[str] = set()
        for chunk, marks in in_chunks(job_ids):
            rows = self.query(
                f"SELECT id FROM jobs WHERE archived_at IS NULL AND id IN ({marks})",  # noqa: S608
                chunk,
            )
            found.update(str(r["id"]) for r in rows)
        return found

    def filed_among(self, job_ids: Sequence[str]) -> dict[str, bool]:
        """Which of `job_ids` are jobs, each with whether it is filed (an index probe per
        id); an id no job has is left out."""
        found: dict[str, bool] = {}
        for chunk, marks in in_chunks([i for i in job_ids if is_text(i)]):
            rows = self.query(
                f"SELECT id, archived_at FROM jobs WHERE id IN ({marks})",  # noqa: S608
                chunk,
            )
            found.update((str(r["id"]), r["archived_at"] is not None) for r in rows)
        return found

    def unfiled_jobs(self, limit: int) -> list[JobRow]:
        """Jobs not filed yet (under way, or finished and waiting to be filed), newest first."""
        return self.jobs("archived_at IS NULL", limit=limit)

    def filed_jobs(self, limit: int) -> list[JobRow]:
        """Jobs filed in sent/, failed/ or hold/, newest first."""
        return self.jobs("archived_at IS NOT NULL", limit=limit)

    def delay_ran_out(self, now: float, default_after: float | None, limit: int) -> list[JobRow]:
        """Unfinished, unfiled jobs whose delay ran out by `now` and that were not noted
        for it yet, oldest first: a job's delay is its own `delayed_after`, else
        `default_after` (None: jobs without their own are left out). The delay is read
        from the stored options by SQLite, so jobs still within it are never built here."""
        rows = self.query(
            "SELECT * FROM jobs WHERE archived_at IS NULL AND finished_at IS NULL "
            "AND delay_noted_at IS NULL AND received_at + "
            "COALESCE(json_extract(options, '$.delayed_after'), ?) <= ? "
            "ORDER BY received_at LIMIT ?",
            (default_after, now, limit),
        )
        return [job_row(r) for r in rows]

    def job_filed_as(self, path: str) -> JobRow | None:
        """The job whose document was filed at `path` (absolute, resolved)."""
        rows = self.jobs("archived_path = ?", (encode_path(path),), limit=1)
        return rows[0] if rows else None

    def failed_job_from(self, path: str) -> JobRow | None:
        """The newest job that took the spool file `path` and was filed as failed."""
        rows = self.jobs(
            "path = ? AND state = ? AND archived_at IS NOT NULL",
            (encode_path(path), JobState.FAILED.value),
            limit=1,
        )
        return rows[0] if rows else None

    def unfiled_job_at(self, path: str) -> JobRow | None:
        """The unfiled job that took the spool file `path` as its document."""
        rows = self.jobs("archived_at IS NULL AND path = ?", (encode_path(path),), limit=1)
        return rows[0] if rows else None

    def has_unfiled_job_from(self, folder: Path) -> bool:
        return bool(self.jobs("archived_at IS NULL AND folder = ?", (str(folder),), limit=1))

    def failed_since(self, since: float) -> int:
        """Jobs that failed at or after `since` (epoch seconds)."""
        rows = self.query(
            "SELECT COUNT(*) AS n FROM jobs WHERE state = 'failed' AND finished_at >= ?", (since,)
        )
        return int(rows[0]["n"])

    # -- transmissions -----------------------------------------------------------------

    def job_and_transmissions(self, job_id: str) -> tuple[JobRow | None, list[TxRow]]:
        jobs, txs = self.query_many(
            (_JOB, (job_id,)),
            (_JOB_TXS, (job_id,)),
        )
        return (job_row(jobs[0]) if jobs else None), [tx_row(r) for r in txs]

    def transmissions(self, job_id: str) -> list[TxRow]:
        rows = self.query(_JOB_TXS, (job_id,))
        return [tx_row(r) for r in rows]

    def for_upload(
        self, job_id: str, idx: int, provider: str, dft_fresh_after: float
    ) -> tuple[TxRow, JobRow, bool | None] | None:
        """What an upload acts on: its transmission, its job, and the recipient's cached
        Direct File Transfer answer (None when none is fresh), read together. Not waited
        for: the upload's own SUBMITTING commit is durable before the document is sent
        (a DFT check before it only asks the provider about the number)."""
        txs, jobs, dft = self.query_many(
            (_TX, (job_id, idx)),
            (_JOB, (job_id,)),
            (
                "SELECT d.supported FROM dft_cache d JOIN transmissions t ON t.number = d.number "
                "WHERE t.job_id = ? AND t.idx = ? AND d.provider = ? AND d.checked_at >= ?",
                (job_id, idx, provider, dft_fresh_after),
            ),
            durable=False,
        )
        if not txs or not jobs:
            return None
        return tx_row(txs[0]), job_row(jobs[0]), bool(dft[0]["supported"]) if dft else None

    def transmission(self, job_id: str, idx: int) -> TxRow | None:
        rows = self.query(_TX, (job_id, idx))
        return tx_row(rows[0]) if rows else None

    def due_transmissions(
        self,
        states: Sequence[TxState],
        now: float,
        limit: int = 200,
        provider: str | None = None,
        *,
        job_id: str | None = None,
    ) -> list[DueTx]:
        """Transmissions in `states` whose time has come, oldest first, with their provider
        (only `provider`'s when given, only job `job_id`'s when given). Not waited for:
        each is re-read by the thread that works on it, which commits before it acts."""
        marks = ",".join("?" for _ in states)
        only = "AND j.provider = ? " if provider is not None else ""
        if job_id is not None:
            only += "AND t.job_id = ? "
        sql = (
            "SELECT t.job_id, t.idx, j.provider FROM transmissions t JOIN jobs j "  # noqa: S608
            f"ON j.id = t.job_id WHERE t.state IN ({marks}) AND t.next_attempt_at <= ? {only}"
            "ORDER BY t.next_attempt_at, t.job_id, t.idx LIMIT ?"
        )
        params = (
            *[s.value for s in states],
            now,
            *([provider] if provider else []),
            *([job_id] if job_id is not None else []),
            limit,
        )
        return [DueTx(*r) for r in self.query(sql, params, durable=False)]

    def next_due_time(
        self, states: Sequence[TxState], *, job_id: str | None = None
    ) -> float | None:
        """The earliest `next_attempt_at` among transmissions in `states` (only job
        `job_id`'s when given)."""
        marks = ",".join("?" for _ in states)
        only = " AND job_id = ?" if job_id is not None else ""
        rows = self.query(
            f"SELECT MIN(next_attempt_at) AS t FROM transmissions WHERE state IN ({marks}){only}",  # noqa: S608
            [*(s.value for s in states), *([job_id] if job_id is not None else [])],
            durable=False,  # it only times the dispatcher's next look
        )
        value = rows[0]["t"] if rows else None
        return float(value) if value is not None else None

    def counts(self) -> dict[str, int]:
        """Transmissions per unfinished state. Finished ones are not counted: after a year
        there are millions, and nothing asks how many."""
        active = [s.value for s in TxState if s not in FINAL_TX_STATES]
        marks = ",".join("?" for _ in active)
        rows = self.query(
            f"SELECT state, COUNT(*) AS n FROM transmissions WHERE state IN ({marks}) "  # noqa: S608
            "GROUP BY state",
            active,
        )
        return {str(r["state"]): int(r["n"]) for r in rows}

    def queue_counts(self) -> QueueCounts:
        counts = self.counts()
        return QueueCounts(
            queued=counts.get(TxState.READY, 0) + counts.get(TxState.WAITING, 0),
            in_flight=sum(counts.get(s, 0) for s in _IN_FLIGHT),
        )

    # -- numbers faxd knows (misdial guard) --------------------------------------------

    def known_among(self, numbers: Collection[str]) -> set[str]:
        """Which of `numbers` faxd has delivered to, or an admin released a document to.

        Both lookups are index probes (tx_number_state, the known_numbers key), so the
        cost follows len(numbers), not the size of the journal."""
        wanted = list(dict.fromkeys(numbers))
        found: set[str] = set()
        has_known = self.has_table("known_numbers")
        for chunk, marks in in_chunks(wanted):
            sql = (
                "SELECT number FROM transmissions "  # noqa: S608
                f"WHERE state = 'delivered' AND number IN ({marks})"
            )
            params = list(chunk)
            if has_known:
                sql += f" UNION SELECT number FROM known_numbers WHERE number IN ({marks})"  # noqa: S608
                params += chunk
            # Not durable: the decision it feeds is acted on only through the job's own
            # durable commit, whose fsync covers every commit this read saw.
            found.update(str(row["number"]) for row in self.query(sql, params, durable=False))
        return found

    def held_jobs(self, limit: int = 1000) -> list[JobRow]:
        """Held jobs not released (whether their files are still in hold/ is not checked)."""
        where = "state = ? AND archived_at IS NOT NULL"
        if self.has_table("releases"):
            where += " AND id NOT IN (SELECT job_id FROM releases)"
        return self.jobs(where, (JobState.HELD.value,), limit=limit)
