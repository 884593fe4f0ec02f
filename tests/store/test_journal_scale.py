"""Look-ups that must not grow with a year of finished jobs: asked one id at a time,
answered through an index (checked with EXPLAIN QUERY PLAN on the statements run)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from faxd.core.transitions import TxUpdate
from faxd.model import JobState, TxState
from faxd.store.journal import Journal
from tests.store.test_journal import new_job


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "j.sqlite")
    yield journal
    journal.close()


def full_scans(journal: Journal, work: Callable[[], object]) -> list[str]:
    """Tables read from end to end by the statements `work` runs."""
    statements: list[str] = []
    db: sqlite3.Connection = journal._db
    db.set_trace_callback(statements.append)
    try:
        work()
    finally:
        db.set_trace_callback(None)
    scans: list[str] = []
    for sql in statements:
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        for row in journal.query("EXPLAIN QUERY PLAN " + sql):
            detail = str(row["detail"])
            # jobs_active_*: the unfiled jobs only, a few however old the journal
            if detail.startswith("SCAN ") and "jobs_active" not in detail:
                scans.append(f"{detail} in {sql}")
    return scans


def sent(journal: Journal, job_id: str, remote_id: str, *, claim: bool = True) -> None:
    journal.create_job(new_job(job_id, f"/spool/{job_id}.pdf", ["+46812345678"]))
    if claim:
        assert journal.claim_remote_id("docs", job_id, 0, remote_id) is None
    else:  # as an older faxd recorded it: on the transmission only
        journal.apply(job_id, 0, TxUpdate(remote_id=remote_id))


def test_remote_ids_answer_one_id_at_a_time_through_an_index(journal: Journal) -> None:
    sent(journal, "a", "R-1")
    sent(journal, "b", "R-2", claim=False)
    ids = journal.remote_ids("docs")
    assert "R-1" in ids and "R-2" in ids
    assert "R-3" not in ids
    assert "R-1" not in journal.remote_ids("retarus")
    assert full_scans(journal, lambda: "R-3" in journal.remote_ids("docs")) == []


def test_ids_recorded_before_claims_existed_are_claimed_once(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    sent(journal, "old", "R-old", claim=False)
    journal.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE remote_claims")  # as an older faxd left it
    db.commit()
    db.close()
    journal = Journal(path)
    try:
        assert journal.remote_claims("docs") == {"R-old": "old-0"}
        sent(journal, "later", "R-later", claim=False)
    finally:
        journal.close()
    journal = Journal(path)  # not read again at each start …
    try:
        assert journal.remote_claims("docs") == {"R-old": "old-0"}
        # … and an unclaimed id is taken all the same
        assert "R-later" in journal.remote_ids("docs")
        assert journal.claim_remote_id("docs", "old", 0, "R-later") == "later-0"
    finally:
        journal.close()


def test_start_up_finds_finished_but_unfiled_jobs_in_one_query(journal: Journal) -> None:
    journal.create_job(new_job("done", "/spool/done.pdf", ["+46812345678", "+46812345611"]))
    journal.create_job(new_job("half", "/spool/half.pdf", ["+46812345678", "+46812345611"]))
    journal.create_job(new_job("filed", "/spool/filed.pdf", ["+46812345678"]))
    journal.create_job(new_job("refused", "/spool/refused.pdf", [], error="no recipient"))
    for job, idx, state in (
        ("done", 0, TxState.FAILED),
        ("half", 0, TxState.FAILED),
        ("filed", 0, TxState.FAILED),
    ):
        journal.apply(job, idx, TxUpdate(state=state))
    journal.apply("done", 1, TxUpdate(state=TxState.SUBMITTING))
    journal.apply("done", 1, TxUpdate(state=TxState.SUBMITTED))
    journal.apply("done", 1, TxUpdate(state=TxState.DELIVERED))
    journal.set_job_state("filed", JobState.FAILED, finished_at=1.0)
    journal.mark_archived("filed", "/failed/filed.pdf", 2.0)
    assert journal.unfiled_ids_all_final() == ["done"]
    assert full_scans(journal, journal.unfiled_ids_all_final) == []
