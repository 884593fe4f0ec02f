"""Received-file metadata: a typed value whose JSON form is what the inbound ledger has
always held in its `meta` column."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from faxd.core.received_meta import ReceivedMeta

# A row as the poller wrote it before its download (a retry, a refusal): no size or checksum.
NOTED_BEFORE_DOWNLOAD = {
    "id": "d-1",
    "file_id": "f-1",
    "original_name": "fax.pdf",
    "sender": "+46927654321",
    "recipient": "+4940123456",
    "time": "2026-11-23T12:00:00+01:00",
    "type": "Fax",
    "status": "Received",
    "provider": "docs",
    "files": 2,
}
# ... and once downloaded, with the two keys added at the end.
DOWNLOADED = NOTED_BEFORE_DOWNLOAD | {"size": 1234, "sha256": "ab" * 32}


def test_a_row_from_before_its_download_loads_and_writes_back_the_same() -> None:
    meta = ReceivedMeta.loads(json.dumps(NOTED_BEFORE_DOWNLOAD))
    assert (meta.remote_id, meta.file_id, meta.files) == ("d-1", "f-1", 2)
    assert meta.size is None and meta.sha256 is None
    assert meta.dumps() == json.dumps(NOTED_BEFORE_DOWNLOAD)


def test_a_downloaded_row_keeps_its_keys_in_their_order() -> None:
    meta = ReceivedMeta.from_json(NOTED_BEFORE_DOWNLOAD).downloaded(1234, "ab" * 32)
    assert meta.dumps() == json.dumps(DOWNLOADED)
    assert ReceivedMeta.loads(meta.dumps()) == meta


def test_missing_keys_take_the_defaults_the_readers_used() -> None:
    meta = ReceivedMeta.from_json({"sender": "+46927654321", "unknown": 1})
    assert meta.sender == "+46927654321"
    assert meta.recipient == meta.type == meta.original_name == meta.remote_id == ""
    assert meta.files == 1 and meta.size is None and meta.sha256 is None
    assert ReceivedMeta.loads("{}") == ReceivedMeta.loads(None) == ReceivedMeta.from_json({})


def test_nulls_read_as_empty_text() -> None:
    meta = ReceivedMeta.from_json({"sender": None, "type": None, "files": None})
    assert (meta.sender, meta.type, meta.files) == ("", "", 1)


text = st.text(max_size=20)


@given(
    st.builds(
        ReceivedMeta,
        remote_id=text,
        file_id=text,
        original_name=text,
        sender=text,
        recipient=text,
        time=text,
        type=text,
        status=text,
        provider=text,
        files=st.integers(1, 50),
        size=st.none() | st.integers(0, 2**40),
        sha256=st.none() | st.text(min_size=1, max_size=64),
    )
)
def test_metadata_survives_the_ledger(meta: ReceivedMeta) -> None:
    assert ReceivedMeta.loads(meta.dumps()) == meta
