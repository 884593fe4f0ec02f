"""A Generic DOCS listing with records faxd cannot read, over real HTTP: the readable
ones are used, each unreadable one is said once, and a lost-upload lookup never turns an
unreadable record that may be the upload into "not found" (that would fax it twice)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from faxd.clock import FakeClock
from faxd.errors import AmbiguousOutcomeError
from faxd.model import OutgoingFile, Submission
from faxd.providers import docs_wire as wire
from faxd.providers.docs import DocsProvider

from .docs_records_server import DocsRecords, docs_records_server, docs_settings
from .rawserver import CANARY_KEY

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
WALL = datetime(2026, 11, 23, 12, 50, 0)  # 11:50 UTC as Stockholm's wall clock in November
SENDER = "+4612345678"
RECIPIENT = "+46927654321"
STRANGER = "+4699999999"
KEY = "job-1/0"


@pytest.fixture
def server() -> Iterator[tuple[DocsRecords, DocsProvider]]:
    records = DocsRecords()
    with docs_records_server(records) as raw:
        settings = docs_settings(raw, CANARY_KEY, read_timeout=2.0)
        provider = DocsProvider(settings, clock=FakeClock(NOW.timestamp()))
        try:
            yield records, provider
        finally:
            provider.close()


def record(
    fax_id: str | None,
    time: str | None,
    *,
    sender: str = STRANGER,
    recipient: Any = RECIPIENT,
    names: tuple[str, ...] = ("fax.pdf",),
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "faxTime": time,
        "senderFaxNumber": sender,
        "recipientFaxNumber": recipient,
        "status": "Received",
        "type": "Fax",
        "files": [{"fileId": f"{fax_id}-f{i}", "fileName": n} for i, n in enumerate(names)],
    }
    if fax_id is not None:
        data["faxId"] = fax_id
    return data


def ours(key: str = KEY) -> str:
    return wire.tokened_name("letter.pdf", wire.upload_token(key))


def submission(tmp_path: Path) -> Submission:
    path = tmp_path / "letter.pdf"
    path.write_bytes(b"%PDF-1.4\n" + b"x" * 100)
    files = (OutgoingFile(path, "letter.pdf", "application/pdf", 109),)
    return Submission(
        key=KEY, job_id="job-1", sender=SENDER, recipient=RECIPIENT, files=files, dft=False
    )


def at(minutes: int) -> datetime:
    return WALL + timedelta(minutes=minutes)


def text(minutes: int) -> str:
    return at(minutes).isoformat()


def test_unreadable_records_are_left_out_counted_and_said_once(
    server: tuple[DocsRecords, DocsProvider],
) -> None:
    records, provider = server
    records.add(at(0), record("good-1", text(0)))
    records.add(at(1), record("bad-1", None))
    records.add(at(2), record("bad-2", "yesterday"))
    records.add(at(3), {"faxTime": text(3), "senderFaxNumber": STRANGER})  # no faxId
    records.add(at(4), record("bad-3", text(4), names=()) | {"files": [{"fileName": "a.pdf"}]})
    records.add(at(5), record("good-2", text(5)))
    with capture_logs() as logs:
        for _ in range(3):
            listed = provider.list_received(NOW - timedelta(hours=1), NOW)
            assert [d.remote_id for d in listed] == ["good-1", "good-2"]
            assert getattr(listed, "unreadable", None) == 4
    warned = [e for e in logs if "cannot be read" in e["event"]]
    assert len(warned) == 4  # once per record, not once per listing
    assert {e["remote_id"] for e in warned} == {"bad-1", "bad-2", "bad-3", None}
    assert all(e["log_level"] == "warning" for e in warned)


@pytest.mark.parametrize(
    ("bad", "held"),
    [
        (record("bad-1", None, sender=STRANGER), frozenset[str]()),
        (record("bad-1", "yesterday", sender=SENDER, recipient="+4611111111"), frozenset()),
        (record("bad-1", None, sender=SENDER, recipient=[RECIPIENT, STRANGER]), frozenset()),
        (record("bad-1", None, sender=SENDER, names=("a.pdf", "b.pdf")), frozenset()),
        (record("bad-1", None, sender=SENDER, names=(ours("job-9/0"),)), frozenset()),
        (record("bad-1", None, sender=SENDER), frozenset({"bad-1"})),
    ],
    ids=["other-sender", "other-recipient", "two-recipients", "file-count", "other-token", "held"],
)
def test_a_lookup_skips_an_unreadable_record_that_cannot_be_the_upload(
    server: tuple[DocsRecords, DocsProvider], tmp_path: Path, bad: dict[str, Any], held: Any
) -> None:
    records, provider = server
    records.add(at(0), record("other-1", text(0)))
    records.add(at(1), bad)
    found = provider.find_submission(submission(tmp_path), NOW - timedelta(minutes=30), held)
    assert found is None


@pytest.mark.parametrize(
    "bad",
    [
        record("bad-1", None, sender=SENDER, names=(ours(),)),  # our token, no time
        record("bad-1", "yesterday", sender=SENDER),  # no token: renamed, maybe ours
        record(None, text(1), sender=SENDER),  # no faxId
        {"faxId": "bad-1", "faxTime": None},  # nothing to rule it out
        record("bad-1", None, sender=SENDER, recipient=None),  # no recipient to compare
    ],
    ids=["our-token", "renamed", "no-fax-id", "bare", "no-recipient"],
)
def test_a_lookup_with_an_unreadable_record_that_may_be_the_upload_is_ambiguous(
    server: tuple[DocsRecords, DocsProvider], tmp_path: Path, bad: dict[str, Any]
) -> None:
    records, provider = server
    records.add(at(0), record("other-1", text(0)))
    records.add(at(1), bad)
    with pytest.raises(AmbiguousOutcomeError, match="cannot read"):
        provider.find_submission(submission(tmp_path), NOW - timedelta(minutes=30), frozenset())


def test_a_proven_upload_is_found_whatever_unreadable_records_are_listed(
    server: tuple[DocsRecords, DocsProvider], tmp_path: Path
) -> None:
    records, provider = server
    records.add(at(0), record("bad-1", None, sender=SENDER))
    records.add(at(1), record("mine", text(1), sender=SENDER, names=(ours(),)))
    found = provider.find_submission(submission(tmp_path), NOW - timedelta(minutes=30), set())
    assert found is not None and found.remote_id == "mine"


def test_unreadable_records_count_towards_a_full_page_in_a_lookup(
    server: tuple[DocsRecords, DocsProvider], tmp_path: Path
) -> None:
    records, provider = server
    records.page_limit = provider.page_limit = 3
    records.add(at(0), record("other-1", text(0)))
    records.add(at(1), record("bad-1", None))  # another sender's: left out
    records.add(at(2), record("other-2", text(2)))
    records.add(at(3), record("mine", text(3), sender=SENDER, names=(ours(),)))
    found = provider.find_submission(submission(tmp_path), NOW - timedelta(minutes=30), set())
    assert found is not None and found.remote_id == "mine"
    assert len(records.retrieves) > 1  # the full first page was split
