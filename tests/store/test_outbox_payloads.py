"""The outbox's payload column: rows stored while payloads were plain dicts load as the
payload type of their kind, and what the outbox writes back is the same JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from faxd.core.outbox_payload import AlertPayload, DeliveryPayload, NoticePayload
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox

DELIVERY = (
    '{"attach": "document", "meta_path": "/in/.faxd/fax.pdf.yaml", "number": "+4940123456", '
    '"path": "/in/fax.pdf", "received_id": "d-1", "sender": "+46927654321"}'
)
OLD_ROWS = {
    "n.J1.failed.0": ("notice", '{"attach": "report"}'),
    "d.d-1.f-1.0": ("delivery", DELIVERY),
    "a.disk_low.x.0": ("alert", '{"advice": "Free space.", "text": "Full.", "title": "disk"}'),
}


def _stored(journal: Journal, row_id: str) -> str:
    return str(journal.query("SELECT payload FROM outbox WHERE id = ?", (row_id,))[0]["payload"])


def test_rows_stored_before_the_types_load_typed_and_write_back_the_same(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    with journal.transaction() as db:
        for row_id, (kind, payload) in OLD_ROWS.items():
            db.execute(
                "INSERT INTO outbox(id, kind, event, channel, target, payload, created_at, "
                "next_attempt_at) VALUES (?, ?, 'e', 'desk', 'desk', ?, 1.0, 1.0)",
                (row_id, kind, payload),
            )
    outbox = Outbox(journal)
    rows = {row.id: row.payload for row in outbox.pending("desk")}
    assert rows["n.J1.failed.0"] == NoticePayload(attach="report")
    delivery = rows["d.d-1.f-1.0"]
    assert isinstance(delivery, DeliveryPayload)
    assert (delivery.path, delivery.number, delivery.sender) == (
        "/in/fax.pdf",
        "+4940123456",
        "+46927654321",
    )
    assert rows["a.disk_low.x.0"] == AlertPayload(title="disk", text="Full.", advice="Free space.")
    for row_id, typed in rows.items():
        outbox.set_payload(row_id, typed)
        assert _stored(journal, row_id) == OLD_ROWS[row_id][1]
    outbox.set_payload("d.d-1.f-1.0", replace(delivery, cups_job="Desk-7"))
    assert json.loads(_stored(journal, "d.d-1.f-1.0")) == {
        **json.loads(DELIVERY),
        "cups_job": "Desk-7",
    }


def test_a_row_added_without_a_payload_is_stored_as_an_empty_object(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    Outbox(journal).add([NewDelivery("n1", "notice", "failed", "hook", 1.0, "J1")])
    assert _stored(journal, "n1") == "{}"
    [row] = Outbox(journal).pending("hook")
    assert row.payload == NoticePayload(attach="report")
