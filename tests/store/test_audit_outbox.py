"""Audit events are committed in the same transaction as the state they record: one per
change, none for a change that was not committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxd.core.received_meta import ReceivedMeta
from faxd.core.transitions import TxUpdate
from faxd.model import Method, TxState
from faxd.store.audit_outbox import pending
from faxd.store.inbox_ledger import InboxLedger
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox
from tests.sample_jobs import sample_job


def _events(journal: Journal) -> list[tuple[str, dict[str, object]]]:
    with journal.transaction() as db:
        return [(row.event, row.data) for row in pending(db)]


def test_each_transition_is_logged_once_with_its_state(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.create_job(sample_job(tmp_path))
    journal.apply("j1", 0, TxUpdate(state=TxState.SUBMITTING))
    journal.claim_remote_id("docs", "j1", 0, "r-1", state=TxState.SUBMITTED, method=Method.DFT)
    journal.apply("j1", 0, TxUpdate(state=TxState.SUBMITTED, polls=1))  # no change of state
    journal.apply("j1", 0, TxUpdate(state=TxState.DELIVERED, status="Received"))
    journal.mark_archived("j1", str(tmp_path / "sent" / "a.pdf"), 5.0)
    events = _events(journal)
    assert [name for name, _ in events] == ["picked up", "accepted", "delivered", "filed"]
    accepted = events[1][1]
    assert accepted == {"job": "j1", "recipient": "+46812345678", "id": "r-1", "method": "dft"}
    assert events[2][1]["status"] == "Received" and events[3][1]["result"] == "ready"


def test_no_event_for_a_change_that_was_rolled_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.create_job(sample_job(tmp_path))
    before = _events(journal)
    with pytest.raises(Exception, match="legal"):
        journal.apply("j1", 0, TxUpdate(state=TxState.SUBMITTED))  # ready -> submitted is illegal
    assert _events(journal) == before


def test_pause_and_received_documents(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.set_value("pause:docs", "9:429", event="provider paused", provider="docs")
    journal.set_value("inbox:status", "{}")
    ledger = InboxLedger(journal, "docs")
    ledger.plan("r1", "f1", tmp_path / "x.pdf", "ab" * 32, 3, ReceivedMeta.from_json({}), 1.0)
    ledger.deliver("r1", "f1", 2.0, files_in_document=1, queue_delete=False)
    events = _events(journal)
    assert [name for name, _ in events] == ["provider paused", "received"]
    assert events[1][1]["sha256"] == "ab" * 32


def test_a_notice_delivered_to_a_channel(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    outbox = Outbox(journal)
    outbox.add([NewDelivery("n1", "notice", "failed", "mail:anna@example.com", 1.0, "j1")])
    outbox.mark_done("n1", 2.0)
    outbox.mark_done("n1", 3.0)  # already done: nothing changes, nothing logged
    events = _events(journal)
    assert events == [
        (
            "delivered to a channel",
            {"id": "n1", "kind": "notice", "about": "failed", "channel": "mail", "subject": "j1"},
        )
    ]
