"""A received document's remote deletion is queued only once every one of its files is
delivered: the provider's Delete removes all its file content, so a file faxd gave up on
would lose its only copy."""

from __future__ import annotations

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
