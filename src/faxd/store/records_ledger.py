"""The records' tables in the shared journal: report PDFs and checksums still to draw
(`filed_records`, queued by `Journal.mark_archived`), the audit outbox, what retention
purged, and the read-only views the activity journal and `faxd history` are made from."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from faxd.core.received_meta import ReceivedMeta
from faxd.store import audit_outbox
from faxd.store.audit_outbox import AuditRow
from faxd.store.journal import Journal
from faxd.store.journal_rows import JobRow, TxRow, decode_path, encode_path, job_row, tx_row
from faxd.store.outbox import OutboxState
from faxd.store.rows import in_chunks, is_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS purged_inbound (
    remote_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    purged_at REAL NOT NULL,
    PRIMARY KEY (remote_id, file_id)
)
"""
AUDIT_HEAD = "records:audit_head"


@dataclass(frozen=True)
class FiledJob:
    """An outbound job with its transmissions and what the records know of it: filed, or
    (for the activity journal and `faxd history`) not filed yet."""

    job: JobRow
    transmissions: tuple[TxRow, ...]
    # pending | done | retry (the report PDF could not be written: drawn again) | unfiled
    state: str
    sha256: str | None
    pages: int | None
    report_pdf: str | None
    purged_at: float | None
    final_times: tuple[float | None, ...] = ()  # when each transmission last changed


@dataclass(frozen=True)
class Received:
    remote_id: str
    file_id: str
    provider: str
    path: str | None
    sha256: str | None
    meta: ReceivedMeta
    delivered_at: float
    purged_at: float | None


class RecordsLedger:
    def __init__(self, journal: Journal, *, readonly: bool = False) -> None:
        self._journal = journal
        if not readonly:
            with journal.transaction() as db:
                db.execute(SCHEMA)
                # Jobs filed before faxd kept records get theirs too (checksum, report PDF
                # where the document is still there), so retention reaches them as well.
                db.execute(
                    "INSERT OR IGNORE INTO filed_records(job_id, state, queued_at) "
                    "SELECT id, 'pending', archived_at FROM jobs WHERE archived_at IS NOT NULL "
                    "AND id NOT IN (SELECT job_id FROM filed_records)"
                )

    # -- the audit outbox --------------------------------------------------------------

    def audit_pending(self, limit: int = 1000) -> list[AuditRow]:
        with self._journal.transaction() as db:
            return audit_outbox.pending(db, limit)

    def audit_acknowledge(self, up_to: int, head: str) -> None:
        """Forget events that are safely in the audit file; remember the file's last line."""
        with self._journal.transaction() as db:
            audit_outbox.acknowledge(db, up_to)
            db.execute(
                "INSERT INTO kv(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (AUDIT_HEAD, head),
            )

    def audit_head(self) -> str | None:
        return self._journal.get_value(AUDIT_HEAD)

    def audit(self, event: str, **data: Any) -> None:
        self._journal.audit(event, **data)

    # -- filed jobs --------------------------------------------------------------------

    def _filed(
        self,
        where: str,
        params: Sequence[Any],
        limit: int = 100_000,
        order: str = "j.finished_at, j.id",
    ) -> list[FiledJob]:
        rows = self._journal.query(
            "SELECT j.*, COALESCE(r.state, 'unfiled') AS r_state, r.sha256 AS r_sha256, "  # noqa: S608
            "r.pages AS r_pages, r.report_pdf AS r_pdf, r.purged_at AS r_purged FROM jobs j "
            # A finished job is traffic of its day before it is filed (a share down at
            # midnight): the journal and `faxd history` list it with what is known.
            f"LEFT JOIN filed_records r ON r.job_id = j.id WHERE {where} "
            f"ORDER BY {order} LIMIT ?",
            (*params, limit),
        )
        txs_of = self._transmissions_of([str(row["id"]) for row in rows])
        found = []
        for row in rows:
            txs = txs_of.get(str(row["id"]), [])
            found.append(
                FiledJob(
                    job=job_row(row),
                    transmissions=tuple(tx_row(t) for t in txs),
                    state=str(row["r_state"]),
                    sha256=row["r_sha256"],
                    pages=row["r_pages"],
                    report_pdf=_opt(row["r_pdf"]),
                    purged_at=row["r_purged"],
                    final_times=tuple(t["updated_at"] for t in txs),
                )
            )
        return found

    def _transmissions_of(self, job_ids: Sequence[str]) -> dict[str, list[sqlite3.Row]]:
        """Each job's transmission rows in order: a query per few hundred jobs, so a year
        of filed jobs is a handful of queries, not one per job."""
        found: dict[str, list[sqlite3.Row]] = {}
        for chunk, marks in in_chunks(job_ids):
            sql = f"SELECT * FROM transmissions WHERE job_id IN ({marks}) ORDER BY job_id, idx"  # noqa: S608
            for row in self._journal.query(sql, chunk):
                found.setdefault(str(row["job_id"]), []).append(row)
        return found

    def pending_reports(self, limit: int = 50) -> list[FiledJob]:
        """Failed jobs first: their failure notices wait for the report PDF."""
        return self._filed(
            "r.state = 'pending' AND j.archived_at IS NOT NULL",
            (),
            limit,
            order="j.state != 'failed', j.finished_at, j.id",
        )

    def report_done(
        self,
        job_id: str,
        *,
        sha256: str | None,
        pages: int | None,
        report_pdf: str | None,
        error: str | None,
        when: float,
        retry: bool = False,
    ) -> None:
        """`retry`: the report PDF could not be written (a full or failing disk, a link in
        the way); it is drawn again at the next `requeue_reports`. Everything else it
        records stands meanwhile, so notices and retention go on."""
        with self._journal.transaction() as db:
            db.execute(
                "UPDATE filed_records SET state = ?, sha256 = ?, pages = ?, "
                "report_pdf = ?, error = ?, done_at = ? WHERE job_id = ?",
                (
                    "retry" if retry else "done",
                    sha256,
                    pages,
                    encode_path(report_pdf) if report_pdf else None,
                    error,
                    when,
                    job_id,
                ),
            )

    def requeue_reports(self) -> int:
        """Reports whose PDF could not be written are pending again; how many."""
        with self._journal.transaction() as db:
            return db.execute(
                "UPDATE filed_records SET state = 'pending' WHERE state = 'retry' "
                "AND purged_at IS NULL"
            ).rowcount

    def finished_between(self, start: float, end: float) -> list[FiledJob]:
        return self._filed("j.finished_at >= ? AND j.finished_at < ?", (start, end))

    def unfiled_finished_between(self, start: float, end: float) -> list[str]:
        """The ids of jobs that finished in [start, end) and are not filed yet."""
        rows = self._journal.query(
            "SELECT id FROM jobs WHERE finished_at >= ? AND finished_at < ? "
            "AND archived_at IS NULL ORDER BY finished_at, id",
            (start, end),
        )
        return [str(row["id"]) for row in rows]

    def purgeable_jobs(self, state: str, before: float) -> list[FiledJob]:
        """Filed jobs in `state` finished before `before`, checksummed and not yet purged."""
        return self._filed(
            "j.state = ? AND j.finished_at < ? AND j.archived_at IS NOT NULL "
            "AND r.state IN ('done', 'retry') AND r.purged_at IS NULL",
            (state, before),
        )

    def filings_after(self, since: float, among: set[str]) -> dict[str, float]:
        """Each name of `among` a job filed after `since` used (document, sidecar,
        attachments, YAML and PDF reports), with the latest filing there. One name can
        hold two jobs' files in turn: `faxd retry` moves a job's files back, and the next
        attempt (or another job's attachment) may be filed under the same free name.
        Only `among` is kept: a year of filings would hold millions of names."""
        latest: dict[str, float] = {}
        rows = self._journal.query(
            "SELECT j.archived_at, j.archived_path, j.archive_plan, r.report_pdf AS r_pdf "
            "FROM jobs j LEFT JOIN filed_records r ON r.job_id = j.id "
            "WHERE j.archived_at > ?",
            (since,),
        )
        for row in rows:
            when = float(row["archived_at"])
            plan = json.loads(row["archive_plan"]) if row["archive_plan"] else {}
            names = [row["archived_path"], row["r_pdf"], *plan.values()]
            for name in names:
                if name and (path := decode_path(str(name))) in among:
                    latest[path] = max(when, latest.get(path, when))
        return latest

    def retried(self, job_ids: Sequence[str]) -> set[str]:
        """Those of `job_ids` that `faxd retry` put back: their files left with them."""
        if not self._journal.has_table("retries"):
            return set()
        found: set[str] = set()
        for chunk, marks in in_chunks(job_ids):
            sql = f"SELECT job_id FROM retries WHERE job_id IN ({marks})"  # noqa: S608
            found.update(str(row["job_id"]) for row in self._journal.query(sql, chunk))
        return found

    def awaited(self) -> tuple[set[str], set[str]]:
        """The subjects of the notices and deliveries still pending: jobs (by id) and
        received files (`received_subject`). Each hands over or attaches their files (a
        received fax, a job's report or document), so retention keeps them until it has
        ended, done or given up."""
        if not self._journal.has_table("outbox"):
            return set(), set()
        rows = self._journal.query(
            "SELECT DISTINCT kind, subject FROM outbox WHERE state = ? "
            "AND kind IN ('notice', 'delivery') AND subject IS NOT NULL",
            (OutboxState.PENDING.value,),
        )
        jobs = {str(r["subject"]) for r in rows if r["kind"] == "notice"}
        received = {str(r["subject"]) for r in rows if r["kind"] == "delivery"}
        return jobs, received

    def mark_job_purged(self, job_id: str, removed: Sequence[str], when: float) -> None:
        with self._journal.transaction() as db:
            db.execute("UPDATE filed_records SET purged_at = ? WHERE job_id = ?", (when, job_id))
            audit_outbox.record(db, "purged", job=job_id, files=list(removed))

    def jobs_matching(
        self, number: str | None, document: str | None, since: float
    ) -> list[FiledJob]:
        if number is not None:
            return self._filed(
                "j.received_at >= ? AND (j.sender = ? OR j.id IN "
                "(SELECT job_id FROM transmissions WHERE number = ?))",
                (since, number, number),
            )
        if not document or "/" in document or not is_text(document):
            # No name holds a slash (nor is part of every name asked); names that are not
            # UTF-8 are kept encoded, and not searched.
            return []
        # A document's name: the last part of its spool-relative path, and of its filed
        # path (which may be numbered: "offer (2).pdf"). Case-sensitive, as for received
        # documents, and `%` and `_` are letters here. A LIKE on the whole path first
        # (cheap, and the name is part of the path) so that only candidates are cut to
        # their name; encoded (non-UTF-8) paths are left out rather than matched by hex.
        names = " OR ".join(
            f"({col} LIKE ? ESCAPE '\\' AND unicode({col}) != 0 AND instr({_name_of(col)}, ?) > 0)"
            for col in ("j.rel_path", "j.archived_path")
        )
        pattern = _like_escaped(document)
        return self._filed(
            f"j.received_at >= ? AND ({names})",
            (since, pattern, document, pattern, document),
        )

    # -- received documents ------------------------------------------------------------

    def _received(self, where: str, params: Sequence[Any]) -> list[Received]:
        if not self._journal.has_table("inbound"):
            return []
        purged = self._journal.has_table("purged_inbound")
        join = (
            "LEFT JOIN purged_inbound p ON p.remote_id = i.remote_id AND p.file_id = i.file_id"
            if purged
            else ""
        )
        purged_col = "p.purged_at" if purged else "NULL"
        rows = self._journal.query(
            f"SELECT i.*, {purged_col} AS purged FROM inbound i {join} "  # noqa: S608
            f"WHERE i.state = 'delivered' AND {where} ORDER BY i.delivered_at, i.remote_id",
            params,
        )
        return [
            Received(
                remote_id=str(r["remote_id"]),
                file_id=str(r["file_id"]),
                provider=str(r["provider"]),
                path=r["path"],
                sha256=r["sha256"],
                meta=ReceivedMeta.loads(r["meta"]),
                delivered_at=float(r["delivered_at"]),
                purged_at=r["purged"],
            )
            for r in rows
        ]

    def received_between(self, start: float, end: float) -> list[Received]:
        return self._received("i.delivered_at >= ? AND i.delivered_at < ?", (start, end))

    def purgeable_received(self, before: float) -> list[Received]:
        return [r for r in self._received("i.delivered_at < ?", (before,)) if r.purged_at is None]

    def received_matching(
        self, number: str | None, document: str | None, since: float
    ) -> list[Received]:
        found = self._received("i.delivered_at >= ?", (since,))
        if number is not None:
            return [r for r in found if number in (r.meta.sender, r.meta.recipient)]
        # Its name, as for sent documents: not the inbox folder's path.
        return [r for r in found if document and r.path and document in PurePath(r.path).name]

    def mark_received_purged(
        self, remote_id: str, file_id: str, removed: Sequence[str], when: float
    ) -> None:
        with self._journal.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO purged_inbound(remote_id, file_id, purged_at) "
                "VALUES (?, ?, ?)",
                (remote_id, file_id, when),
            )
            audit_outbox.record(db, "purged", id=remote_id, file=file_id, files=list(removed))

    # -- daily tasks -------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        return self._journal.get_value(f"records:{key}")

    def put(self, key: str, value: str) -> None:
        self._journal.set_value(f"records:{key}", value)


def _like_escaped(text: str) -> str:
    """A LIKE pattern matching any text that contains `text` as written."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _name_of(column: str) -> str:
    """SQL for the last part of a stored path: what follows its last slash (rtrim strips
    every character but the slash from the right, which leaves the folder part)."""
    return f"substr({column}, length(rtrim({column}, replace({column}, '/', ''))) + 1)"


def _opt(stored: str | None) -> str | None:
    return decode_path(stored) if stored is not None else None
