"""What a delivery or alert says, composed from the typed payload of its outbox row: the
subject, text and event fields are those faxd sent when payloads were plain dicts."""

from __future__ import annotations

import socket
from pathlib import Path

from faxd.channels.base import Message
from faxd.channels.templates import Templates
from faxd.core.outbox_payload import AlertPayload, DeliveryPayload
from faxd.notices.compose import Composer
from faxd.store.journal import Journal
from faxd.store.outbox import NewDelivery, Outbox


def compose(tmp_path: Path, row: NewDelivery) -> Message:
    """The row as the worker composes it: read back from the outbox first."""
    journal = Journal(tmp_path / "journal.sqlite")
    Outbox(journal).add([row])
    found = Outbox(journal).get(row.id)
    assert found is not None
    return Composer(journal, Templates()).compose(found, 2.0)


def test_a_delivery_says_who_sent_it_for_which_number_and_attaches_it(tmp_path: Path) -> None:
    received = tmp_path / "fax.pdf"
    received.write_bytes(b"%PDF-1.4 received")
    payload = DeliveryPayload(
        path=str(received),
        number="+4940123456",
        sender=None,
        received_id="d-1",
        meta_path=str(tmp_path / "fax.pdf.yaml"),
    )
    message = compose(
        tmp_path, NewDelivery("d.1", "delivery", "received", "hook", 1.0, "d", payload)
    )
    assert message.subject == "Fax received from an unknown sender for +4940123456"
    assert message.text == (
        "A fax arrived for +4940123456 from an unknown sender.\n\n"
        f"It is attached to this mail and also saved as {received}.\n\n"
        "-- faxd, the office fax\n"
    )
    assert message.fields == {
        "path": str(received),
        "number": "+4940123456",
        "sender": None,
        "document": "fax.pdf",
        "received_id": "d-1",
    }
    assert [a.name for a in message.attachments] == ["fax.pdf"]
    # Read below the inbox folder it was delivered to, mailed or printed.
    assert [a.root for a in message.attachments] == [tmp_path]
    assert message.print_file is not None and message.print_file.root == tmp_path


def test_an_alert_says_its_title_text_and_advice(tmp_path: Path) -> None:
    payload = AlertPayload(title="disk low", text="Only 3 MB are free.", advice="Free space.")
    message = compose(tmp_path, NewDelivery("a.1", "alert", "disk_low", "hook", 1.0, None, payload))
    assert message.subject == "faxd needs attention: disk low"
    assert message.text == (
        f"Only 3 MB are free.\n\nWhat to do: Free space.\n\n-- faxd on {socket.gethostname()}\n"
    )
    assert message.fields == {
        "advice": "Free space.",
        "text": "Only 3 MB are free.",
        "title": "disk low",
    }
    assert message.attachments == () and message.print_file is None
