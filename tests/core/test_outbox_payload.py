"""Outbox payloads: typed values whose JSON form is what the outbox's `payload` column has
always held, so rows written before and after the types are interchangeable."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from faxd.core import outbox_payload
from faxd.core.outbox_payload import AlertPayload, DeliveryPayload, NoticePayload, OutboxPayload

# Rows exactly as faxd stored them while payloads were plain dicts (sorted keys).
NOTICE_WRITTEN_BEFORE = '{"attach": "report"}'
NOTICE_PRINTING_WRITTEN_BEFORE = '{"attach": "document", "cups_job": "FrontDesk-12"}'
DELIVERY_WRITTEN_BEFORE = (
    '{"attach": "document", "meta_path": "/srv/inbox/.faxd/fax.pdf.yaml", '
    '"number": "+4940123456", "path": "/srv/inbox/fax.pdf", "received_id": "d-1", '
    '"sender": null}'
)
ALERT_WRITTEN_BEFORE = (
    '{"advice": "Free space.", "text": "Only 3 MB are free.", "title": "little free disk space"}'
)


def test_an_old_notice_row_loads_and_is_stored_the_same() -> None:
    payload = outbox_payload.loads("notice", NOTICE_WRITTEN_BEFORE)
    assert payload == NoticePayload(attach="report")
    assert outbox_payload.dumps(payload) == NOTICE_WRITTEN_BEFORE
    printing = outbox_payload.loads("notice", NOTICE_PRINTING_WRITTEN_BEFORE)
    assert printing == NoticePayload(attach="document", cups_job="FrontDesk-12")
    assert outbox_payload.dumps(printing) == NOTICE_PRINTING_WRITTEN_BEFORE


def test_an_old_delivery_row_loads_and_is_stored_the_same() -> None:
    payload = outbox_payload.loads("delivery", DELIVERY_WRITTEN_BEFORE)
    assert payload == DeliveryPayload(
        path="/srv/inbox/fax.pdf",
        attach="document",
        number="+4940123456",
        sender=None,
        received_id="d-1",
        meta_path="/srv/inbox/.faxd/fax.pdf.yaml",
    )
    assert outbox_payload.dumps(payload) == DELIVERY_WRITTEN_BEFORE


def test_an_old_alert_row_loads_and_is_stored_the_same() -> None:
    payload = outbox_payload.loads("alert", ALERT_WRITTEN_BEFORE)
    assert payload == AlertPayload("little free disk space", "Only 3 MB are free.", "Free space.")
    assert outbox_payload.dumps(payload) == ALERT_WRITTEN_BEFORE


def test_missing_keys_take_the_defaults_the_readers_used() -> None:
    assert outbox_payload.loads("notice", "{}") == NoticePayload(attach="report")
    assert outbox_payload.loads("delivery", "{}") == DeliveryPayload(path="", attach="document")
    assert outbox_payload.loads("alert", None) == AlertPayload("", "", "")
    assert outbox_payload.loads("notice", "[]") == NoticePayload()
    assert outbox_payload.from_json("delivery", {"path": "/x.pdf", "pages": 2}) == (
        DeliveryPayload(path="/x.pdf")
    )


def test_a_row_with_nothing_to_say_is_stored_as_an_empty_object() -> None:
    assert outbox_payload.dumps(None) == "{}"


def test_a_recorded_print_job_comes_and_goes_with_its_key() -> None:
    payload = DeliveryPayload(path="/x.pdf", number="+4940123456", cups_job="Desk-3")
    assert payload.to_json()["cups_job"] == "Desk-3"
    assert "cups_job" not in DeliveryPayload(path="/x.pdf").to_json()
    assert "cups_job" not in NoticePayload().to_json()


text = st.text(max_size=20)
maybe = st.none() | text
payloads: st.SearchStrategy[tuple[str, OutboxPayload]] = st.one_of(
    st.tuples(st.just("notice"), st.builds(NoticePayload, attach=text, cups_job=maybe)),
    st.tuples(
        st.just("delivery"),
        st.builds(
            DeliveryPayload,
            path=text,
            attach=text,
            number=maybe,
            sender=maybe,
            received_id=maybe,
            meta_path=maybe,
            cups_job=maybe,
        ),
    ),
    st.tuples(st.just("alert"), st.builds(AlertPayload, title=text, text=text, advice=text)),
)


@given(payloads)
def test_payloads_survive_the_outbox(kind_and_payload: tuple[str, OutboxPayload]) -> None:
    kind, payload = kind_and_payload
    assert outbox_payload.loads(kind, outbox_payload.dumps(payload)) == payload
    assert outbox_payload.from_json(kind, json.loads(json.dumps(payload.to_json()))) == payload
