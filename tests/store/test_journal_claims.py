"""A provider id belongs to exactly one transmission: claims are checked and written in one
transaction, so lookups running at once cannot both take the same id."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from faxd.core.transitions import TxUpdate
from faxd.model import TxState
from faxd.store.journal import Journal

from .test_journal import new_job


def journal_with_jobs(path: Path, count: int) -> Journal:
    journal = Journal(path)
    for n in range(count):
        journal.create_job(new_job(f"j{n}", f"/spool/{n}/letter.pdf", ["+46812345678"]))
    return journal


def test_lookups_claiming_one_id_at_once_credit_it_to_exactly_one(tmp_path: Path) -> None:
    journal = journal_with_jobs(tmp_path / "j.sqlite", 8)
    start = threading.Barrier(8)
    results: dict[int, str | None] = {}

    def claim(n: int) -> None:
        start.wait()
        results[n] = journal.claim_remote_id("docs", f"j{n}", 0, "fax-1", state=TxState.SUBMITTED)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [n for n, holder in results.items() if holder is None]
        assert len(winners) == 1
        assert {h for h in results.values() if h is not None} == {f"j{winners[0]}-0"}
        holders = [n for n in range(8) if journal.transmission(f"j{n}", 0).remote_id == "fax-1"]  # type: ignore[union-attr]
        assert holders == winners
        assert journal.transmission(f"j{winners[0]}", 0).state == TxState.SUBMITTED  # type: ignore[union-attr]
        # the same transmission claiming its own id again is fine
        assert journal.claim_remote_id("docs", f"j{winners[0]}", 0, "fax-1") is None
        # another provider's ids are another namespace
        assert journal.claim_remote_id("retarus", "j7", 0, "fax-1") is None
    finally:
        journal.close()


def test_the_providers_own_answer_takes_an_id_back_from_a_lookups_guess(tmp_path: Path) -> None:
    journal = journal_with_jobs(tmp_path / "j.sqlite", 2)
    try:
        assert journal.claim_remote_id("docs", "j0", 0, "fax-1", state=TxState.SUBMITTED) is None
        holder = journal.claim_remote_id(
            "docs", "j1", 0, "fax-1", take_over=True, state=TxState.SUBMITTED
        )
        assert holder == "j0-0"
        guessed = journal.transmission("j0", 0)
        assert guessed is not None
        assert (guessed.state, guessed.remote_id) == (TxState.OUTCOME_UNKNOWN, None)
        assert journal.remote_claims("docs") == {"fax-1": "j1-0"}
    finally:
        journal.close()


def test_ids_recorded_before_claims_existed_are_claimed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = journal_with_jobs(path, 2)
    journal.apply("j0", 0, TxUpdate(remote_id="fax-old", submitted_at=1.0))
    journal.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE remote_claims")  # as an older faxd left it
    db.commit()
    db.close()
    journal = Journal(path)
    try:
        assert journal.remote_claims("docs") == {"fax-old": "j0-0"}
        assert journal.claim_remote_id("docs", "j1", 0, "fax-old") == "j0-0"
        assert journal.transmission("j1", 0).remote_id is None  # type: ignore[union-attr]
    finally:
        journal.close()
