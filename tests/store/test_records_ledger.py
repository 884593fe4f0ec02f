"""The records' tables: jobs filed before faxd kept records get a pending row too."""

from __future__ import annotations

from pathlib import Path

from faxd.store.journal import Journal
from faxd.store.records_ledger import RecordsLedger
from tests.sample_jobs import sample_job


def test_jobs_filed_before_records_existed_are_queued(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.create_job(sample_job(tmp_path))
    journal.mark_archived("j1", str(tmp_path / "sent" / "a.pdf"), 5.0)
    with journal.transaction() as db:
        db.execute("DELETE FROM filed_records")  # as an older faxd left it
    ledger = RecordsLedger(journal)
    assert [f.job.id for f in ledger.pending_reports()] == ["j1"]
    RecordsLedger(journal)  # again: still one row
    assert len(journal.query("SELECT * FROM filed_records")) == 1


def test_a_journal_without_an_inbox_lists_no_received_documents(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        ledger = RecordsLedger(journal)
        assert not journal.has_table("inbound")  # made by the inbox ledger, when there is one
        assert ledger.received_between(0.0, 4e9) == []
        assert ledger.purgeable_received(4e9) == []
    finally:
        journal.close()
