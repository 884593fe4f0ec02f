"""A received document's remote deletion is queued only once every one of its files is
delivered: the provider's Delete removes all its file content, so a file faxd gave up on
would lose its only copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from faxd.core.received_meta import ReceivedMeta
from faxd.store.inbox_ledger import KEPT_NOTE, InboxLedger
from faxd.store.journal import Journal

META = ReceivedMeta.from_json({})


def _deliver(ledger: InboxLedger, tmp_path: Path, file_id: str, files: int) -> bool:
    ledger.plan("r1", file_id, tmp_path / f"{file_id}.pdf", "ab" * 32, 3, META, 1.0)
    return ledger.deliver("r1", file_id, 2.0, files_in_document=files, queue_delete=True)


def test_a_document_with_a_file_given_up_is_never_queued_for_deletion(tmp_path: Path) -> None:
    ledger = InboxLedger(Journal(tmp_path / "j.sqlite"), "docs")
    ledger.mark_unavailable("r1", "f1", "too large", META, 1.0)
    assert not _deliver(ledger, tmp_path, "f2", 2)
    assert ledger.pending_deletes() == []
    assert ledger.keep_at_provider("r1", 2, 3.0) == ["f1"]
    assert ledger.keep_at_provider("r1", 2, 4.0) == []  # noted once
    row = ledger.row("r1", "f1")
    assert row is not None and row.error == "too large" + KEPT_NOTE


def test_a_document_whose_files_are_all_delivered_is_queued(tmp_path: Path) -> None:
    ledger = InboxLedger(Journal(tmp_path / "j.sqlite"), "docs")
    assert not _deliver(ledger, tmp_path, "f1", 2)
    assert ledger.keep_at_provider("r1", 2, 3.0) == []  # not done yet
    assert _deliver(ledger, tmp_path, "f2", 2)
    assert ledger.pending_deletes() == ["r1"]
    assert ledger.keep_at_provider("r1", 2, 3.0) == []  # nothing given up


def test_a_journal_from_before_refusals_were_counted_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE inbound (remote_id TEXT NOT NULL, file_id TEXT NOT NULL,"
        " provider TEXT NOT NULL, state TEXT NOT NULL, path TEXT, sha256 TEXT, size INTEGER,"
        " meta TEXT NOT NULL DEFAULT '{}', error TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
        " updated_at REAL NOT NULL, delivered_at REAL, PRIMARY KEY (remote_id, file_id));"
        "INSERT INTO inbound VALUES"
        " ('r1','f1','docs','retry',NULL,NULL,NULL,'{}','cut',2,1.0,NULL);"
    )
    db.close()
    ledger = InboxLedger(Journal(path), "docs")
    before = ledger.row("r1", "f1")
    assert before is not None and (before.attempts, before.refusals) == (2, 0)
    ledger.note_attempt("r1", "f1", "404 Not Found", META, 2.0)
    after = ledger.row("r1", "f1")
    assert after is not None and (after.attempts, after.refusals) == (3, 1)
