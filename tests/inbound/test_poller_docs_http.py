"""The inbox poller with the real Generic DOCS provider over real HTTP (a loopback server
serving records as written, malformed ones included): an unreadable record does not hold
up the others, and delete_after_download never deletes a document with a file faxd could
not save."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from faxd.clock import FakeClock
from faxd.inbound.poller import InboxPoller
from faxd.providers.docs import DocsProvider
from faxd.settings import InboxSettings
from faxd.store.inbox_ledger import KEPT_NOTE, InboundState, InboxLedger
from faxd.store.journal import Journal

from ..providers.docs_records_server import DocsRecords, docs_records_server, docs_settings
from ..providers.rawserver import CANARY_KEY
from .inbound_fakes import OURS, inbox_files

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
WALL = datetime(2026, 11, 23, 12, 0, 0)  # 11:00 UTC as Stockholm's wall clock in November
SENDER = "+46927654321"


@dataclass
class Rig:
    tmp: Path
    records: DocsRecords
    provider: DocsProvider
    journal: Journal
    clock: FakeClock

    def poller(self, **settings: Any) -> InboxPoller:
        tuning = settings.pop("tuning", {})
        inbox = InboxSettings(provider="docs", path=self.tmp / "inbox", **settings)
        return InboxPoller(
            inbox,
            self.provider,
            self.journal,
            frozenset({OURS}),
            frozenset,
            self.clock,
            TZ,
            **tuning,
        )

    def ledger(self) -> InboxLedger:
        return InboxLedger(self.journal, "docs")

    def document(
        self, fax_id: str, minutes: int, sizes: tuple[int, ...] = (500,), **fields: Any
    ) -> dict[str, Any]:
        """A received document to OURS whose files hold `sizes` bytes."""
        files = []
        for i, size in enumerate(sizes):
            file_id = f"{fax_id}-f{i}"
            self.records.files[file_id] = hashlib.sha256(file_id.encode()).digest() * (
                size // 32 + 1
            )
            self.records.files[file_id] = self.records.files[file_id][:size]
            files.append({"fileId": file_id, "fileName": f"page{i}.pdf"})
        data = {
            "faxId": fax_id,
            "faxTime": (WALL + timedelta(minutes=minutes)).isoformat(),
            "senderFaxNumber": SENDER,
            "recipientFaxNumber": OURS,
            "status": "Received",
            "type": "Fax",
            "files": files,
        } | fields
        self.records.add(WALL + timedelta(minutes=minutes), data)
        return data


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    records = DocsRecords()
    with docs_records_server(records) as raw:
        settings = docs_settings(raw, CANARY_KEY, read_timeout=5.0)
        provider = DocsProvider(settings)
        journal = Journal(tmp_path / "state" / "faxd.sqlite")
        try:
            yield Rig(tmp_path, records, provider, journal, FakeClock(NOW.timestamp()))
        finally:
            journal.close()
            provider.close()


def saved(rig: Rig) -> list[bytes]:
    return sorted(v for k, v in inbox_files(rig.tmp).items() if k.startswith("inbox/"))


def test_an_unreadable_record_is_skipped_and_the_other_documents_arrive(rig: Rig) -> None:
    rig.document("good-1", -30)
    rig.document("bad-1", -20, faxTime=None)
    rig.document("bad-2", -10, faxTime="yesterday")
    rig.document("good-2", -5)
    poller = rig.poller()
    with capture_logs() as logs:
        first = poller.poll_once()
        rig.clock.advance(60)
        rig.document("good-3", 1)
        second = poller.poll_once()
    assert first.error is None and second.error is None
    assert (first.delivered, second.delivered) == (2, 1)
    assert saved(rig) == sorted(rig.records.files[f"good-{i}-f0"] for i in (1, 2, 3))
    watermark = rig.ledger().watermark()
    assert watermark is not None and watermark >= NOW  # not held back by the bad records
    warned = [e for e in logs if "cannot be read" in e["event"]]
    assert sorted(e["remote_id"] for e in warned) == ["bad-1", "bad-2"]  # once, not per poll


def test_unreadable_records_still_fill_a_page_so_it_is_split(rig: Rig) -> None:
    rig.records.page_limit = rig.provider.page_limit = 3
    rig.document("good-1", -30)
    rig.document("bad-1", -20, faxTime=None)
    rig.document("good-2", -10)
    rig.document("good-3", -5)
    result = rig.poller().poll_once()
    assert result.error is None
    assert result.delivered == 3  # good-3 lay beyond the first (full) page
    assert saved(rig) == sorted(rig.records.files[f"good-{i}-f0"] for i in (1, 2, 3))


def test_a_document_with_a_file_given_up_is_kept_at_the_provider(rig: Rig) -> None:
    # page0 is larger than faxd accepts (given up at once), page1 is saved after it.
    rig.document("partly", -30, sizes=(4000, 500))
    rig.document("whole", -20, sizes=(500, 500))
    poller = rig.poller(delete_after_download=True, tuning={"max_file_size": 1000})
    with capture_logs() as logs:
        first = poller.poll_once()
        rig.clock.advance(60)
        second = poller.poll_once()
    assert (first.delivered, first.unavailable, first.error) == (3, 1, None)
    assert second.error is None
    assert rig.records.deletes == ["whole"]  # never "partly": its page0 exists only there
    ledger = rig.ledger()
    given_up = ledger.row("partly", "partly-f0")
    assert given_up is not None and given_up.state is InboundState.UNAVAILABLE
    assert given_up.error is not None and given_up.error.endswith(KEPT_NOTE)
    assert ledger.pending_deletes() == []
    kept = [e for e in logs if "kept at the provider" in e["event"]]
    assert [(e["remote_id"], e["not_saved"]) for e in kept] == [("partly", ["partly-f0"])]


def test_a_document_whose_only_file_is_refused_is_kept_and_said_once(rig: Rig) -> None:
    rig.document("refused", -30, sizes=(500,))
    rig.records.refused.add("refused-f0")
    poller = rig.poller(delete_after_download=True)
    with capture_logs() as logs:
        for _ in range(5):
            poller.poll_once()
            rig.clock.advance(60)
    assert rig.records.deletes == []
    kept = [e for e in logs if "kept at the provider" in e["event"]]
    assert [e["remote_id"] for e in kept] == ["refused"]


PAGE = b"\n<!DOCTYPE html>\n<html><body>Please log in</body></html>\n"


@pytest.mark.parametrize("body", [b"", PAGE], ids=["empty", "web-page"])
def test_an_empty_file_or_a_web_page_is_not_saved_as_the_fax(rig: Rig, body: bytes) -> None:
    rig.document("broken", -30, sizes=(500,))
    rig.document("fine", -20, sizes=(500,))
    good = rig.records.files["broken-f0"]
    rig.records.files["broken-f0"] = body
    poller = rig.poller(delete_after_download=True)
    with capture_logs() as logs:
        first = poller.poll_once()
        rig.clock.advance(60)
        rig.records.files["broken-f0"] = good  # the provider's glitch is over
        second = poller.poll_once()
    assert (first.delivered, second.delivered) == (1, 1)
    assert saved(rig) == sorted([good, rig.records.files["fine-f0"]])
    assert not list((rig.tmp / "inbox" / ".tmp").iterdir())
    assert sorted(rig.records.deletes) == ["broken", "fine"]  # each once it was saved
    retried = [e for e in logs if "not available yet" in e["event"]]
    assert [e["remote_id"] for e in retried] == ["broken"]
    assert "empty file" in retried[0]["error"] or "web page" in retried[0]["error"]


def test_a_file_that_stays_a_web_page_is_given_up_and_kept_at_the_provider(rig: Rig) -> None:
    rig.document("broken", -30, sizes=(500,))
    rig.records.files["broken-f0"] = PAGE
    poller = rig.poller(delete_after_download=True)
    for _ in range(4):
        poller.poll_once()
        rig.clock.advance(60)
    assert saved(rig) == []
    assert rig.records.deletes == []
    row = rig.ledger().row("broken", "broken-f0")
    assert row is not None and row.state is InboundState.UNAVAILABLE
    assert row.error is not None and "web page" in row.error


@pytest.mark.parametrize("name", ["menu.html", "order.txt", "notes"])
def test_a_web_page_sent_as_one_by_direct_file_transfer_is_saved(rig: Rig, name: str) -> None:
    # The sender's own file: a page, or text that quotes one, is not the provider failing.
    rig.records.files["dft-f0"] = PAGE
    rig.records.add(
        WALL,
        {
            "faxId": "dft",
            "faxTime": WALL.isoformat(),
            "senderFaxNumber": SENDER,
            "recipientFaxNumber": OURS,
            "status": "Received",
            "type": "DirectFileTransfer",
            "files": [{"fileId": "dft-f0", "fileName": name}],
        },
    )
    assert rig.poller().poll_once().delivered == 1
    assert saved(rig) == [PAGE]
