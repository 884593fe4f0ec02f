"""The inbox poller against a fake source: exactly-once bookkeeping across overlapping
windows, restarts and crashes at every crash point; filtering, routes, names, deletion
order and local write errors."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from structlog.testing import capture_logs

import faxd.inbound.poller_delivery
from faxd.clock import FakeClock
from faxd.core.poll_windows import ZONE_MARGIN
from faxd.errors import AuthError, RejectedError, TransientError
from faxd.inbound.poller import InboxPoller
from faxd.inbound.poller_cycle import FILE_ERRORS_PER_CYCLE
from faxd.inbound.poller_delivery import original_name
from faxd.inbound.poller_undelivered import MAX_MISSING_ATTEMPTS
from faxd.settings import InboxSettings
from faxd.store.inbox_ledger import InboundState, InboxLedger
from faxd.store.journal import Journal

from .inbound_fakes import OURS, STRANGER, SUPPORT, FakeSource, at, inbox_files, tmp_leftovers

TZ = ZoneInfo("Europe/Stockholm")
NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


class SimulatedCrash(BaseException):
    """Raised at a crash point: nothing after it runs, like SIGKILL (no except catches it)."""


@dataclass
class Env:
    tmp: Path
    inbox: Path
    journal_path: Path
    source: FakeSource
    clock: FakeClock
    journal: Journal
    outbound: set[str]

    def poller(
        self,
        numbers: frozenset[str] = frozenset({OURS, SUPPORT}),
        *,
        tuning: dict[str, Any] | None = None,
        **settings: Any,
    ) -> InboxPoller:
        """`tuning` goes to the poller itself (max_file_size, workers …)."""
        inbox = InboxSettings(provider="docs", path=self.inbox, **settings)
        return InboxPoller(
            inbox,
            self.source,
            self.journal,
            numbers,
            lambda: frozenset(self.outbound),
            self.clock,
            TZ,
            **(tuning or {}),
        )

    def restart(self) -> None:
        """A new process: a fresh journal connection on the same file."""
        self.journal.close()
        self.journal = Journal(self.journal_path)

    def ledger(self) -> InboxLedger:
        return InboxLedger(self.journal, "docs")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    journal_path = tmp_path / "state" / "faxd.sqlite"
    e = Env(
        tmp=tmp_path,
        inbox=tmp_path / "inbox",
        journal_path=journal_path,
        source=FakeSource(),
        clock=FakeClock(NOW.timestamp()),
        journal=Journal(journal_path),
        outbound=set(),
    )
    yield e
    e.journal.close()


def expect_exactly_once(env: Env, file_ids: list[str]) -> None:
    """Every file in the inbox once with its exact bytes, nothing else, nothing in .tmp."""
    files = inbox_files(env.tmp)
    contents = sorted(files.values())
    assert contents == sorted(env.source.content(f) for f in file_ids)
    assert all(name.startswith("inbox/") for name in files)
    assert tmp_leftovers(env.tmp) == []


def file_ids(docs: list[Any]) -> list[str]:
    return [f.file_id for d in docs for f in d.files]


# -- exactly once --------------------------------------------------------------------


def test_first_poll_delivers_the_last_day_with_sidecars(env: Env) -> None:
    # The last day, widened by the zone margin (the provider's zone is unknown).
    old = env.source.add(NOW - timedelta(days=1) - ZONE_MARGIN - timedelta(seconds=1))
    docs = [env.source.add(at(NOW, -3600 * h)) for h in range(1, 6)]
    result = env.poller().poll_once()
    assert result.error is None
    assert result.delivered == 5
    assert old.files[0].file_id not in env.source.fetches
    expect_exactly_once(env, file_ids(docs))
    doc = docs[0]
    local = doc.time.astimezone(TZ)
    name = f"{local:%Y%m%d-%H%M%S}_46927654321_fax.pdf"
    assert (env.inbox / name).read_bytes() == env.source.content(doc.files[0].file_id)
    meta = yaml.safe_load((env.inbox / ".meta" / f"{name}.yaml").read_text())
    assert meta["id"] == doc.remote_id
    assert meta["file_id"] == doc.files[0].file_id
    assert meta["sender"] == "+46927654321"
    assert meta["recipient"] == OURS
    assert meta["time"] == "2026-11-23T12:00:00+01:00"
    assert meta["type"] == "Fax"
    assert meta["status"] == "Received"
    assert meta["original_name"] == "fax.pdf"


def test_overlapping_polls_and_a_restart_deliver_each_file_once(env: Env) -> None:
    docs = [env.source.add(at(NOW, -60 * i)) for i in range(10)]
    env.poller().poll_once()
    env.clock.advance(60)
    docs.append(env.source.add(at(NOW, 30)))
    second = env.poller().poll_once()
    assert second.delivered == 1
    assert second.known >= 1  # the overlap listed already delivered documents again
    env.restart()
    env.clock.advance(60)
    third = env.poller().poll_once()
    assert third.delivered == 0
    expect_exactly_once(env, file_ids(docs))
    assert len(env.source.fetches) == len(docs)


def test_after_a_restart_the_poll_continues_from_the_watermark_minus_the_overlap(
    env: Env,
) -> None:
    env.poller().poll_once()
    env.restart()
    env.clock.advance(30 * 86400)  # down for a month: no lookback limit applies now
    late = env.source.add(NOW + timedelta(days=3))
    env.source.listings.clear()
    result = env.poller().poll_once()
    assert result.delivered == 1
    assert env.source.listings[0][0] == NOW - timedelta(minutes=10) - ZONE_MARGIN
    expect_exactly_once(env, file_ids([late]))


def test_a_late_listed_document_inside_the_overlap_is_still_delivered(env: Env) -> None:
    env.poller().poll_once()
    env.clock.advance(60)
    # The provider lists it only now, stamped five minutes before the last poll's end.
    late = env.source.add(NOW - timedelta(minutes=5))
    assert env.poller().poll_once().delivered == 1
    expect_exactly_once(env, file_ids([late]))


def test_full_pages_are_split_until_every_part_is_complete(env: Env) -> None:
    docs = [env.source.add(at(NOW, -7 * i - 1)) for i in range(350)]
    result = env.poller().poll_once()
    assert result.truncated_windows == 0
    assert result.windows >= 4
    assert result.delivered == 350
    expect_exactly_once(env, file_ids(docs))
    for start, end in env.source.listings:
        assert start <= end


def test_an_overfull_second_is_taken_as_is_and_logged(env: Env) -> None:
    env.source.page_limit = 5
    docs = [env.source.add(NOW - timedelta(hours=1)) for _ in range(7)]
    with capture_logs() as logs:
        result = env.poller().poll_once()
    assert result.truncated_windows >= 1
    assert result.delivered == 5
    assert any("full page" in str(entry["event"]) for entry in logs)
    assert len(inbox_files(env.tmp)) == 5
    assert len(docs) == 7


def test_a_document_at_a_split_boundary_is_delivered_once(env: Env) -> None:
    env.source.page_limit = 4
    start = NOW - timedelta(days=1)
    # Eight documents on the exact instant every halving uses as its shared boundary.
    middle = start + timedelta(seconds=43200)
    docs = [env.source.add(middle + timedelta(seconds=i % 2)) for i in range(3)]
    docs += [env.source.add(start + timedelta(seconds=i * 3600)) for i in range(8)]
    result = env.poller().poll_once()
    expect_exactly_once(env, file_ids(docs))
    assert result.delivered == len(docs)


# -- which documents ---------------------------------------------------------------------


def test_only_documents_for_our_numbers_and_not_sent_by_us(env: Env) -> None:
    mine = env.source.add(at(NOW, -100))
    outbound = env.source.add(at(NOW, -200), recipient=OURS)
    stranger = env.source.add(at(NOW, -300), recipient=STRANGER)
    spaced = env.source.add(at(NOW, -400), recipient="0046 12-345 678")
    env.outbound.add(outbound.remote_id)
    result = env.poller().poll_once()
    assert (result.delivered, result.outbound, result.foreign) == (2, 1, 1)
    expect_exactly_once(env, file_ids([mine, spaced]))
    assert stranger.files[0].file_id not in env.source.fetches


def test_without_numbers_every_document_not_ours_is_received_and_that_is_logged(
    env: Env,
) -> None:
    a = env.source.add(at(NOW, -100), recipient=STRANGER)
    b = env.source.add(at(NOW, -200))
    sent = env.source.add(at(NOW, -300))
    env.outbound.add(sent.remote_id)
    poller = env.poller(numbers=frozenset())
    with capture_logs() as logs:
        poller.poll_once()
        env.clock.advance(60)
        poller.poll_once()
    expect_exactly_once(env, file_ids([a, b]))
    warnings = [e for e in logs if "no numbers of ours" in str(e["event"])]
    assert len(warnings) == 1


def test_routes_put_documents_for_a_routed_number_into_its_own_folder(env: Env) -> None:
    support = env.tmp / "inbox" / "support"
    general = env.source.add(at(NOW, -100))
    routed = env.source.add(at(NOW, -200), recipient=SUPPORT)
    env.poller(routes={SUPPORT: support}).poll_once()
    in_support = [p for p in support.iterdir() if p.is_file() and p.suffix != ".yaml"]
    assert [p.read_bytes() for p in in_support] == [env.source.content(routed.files[0].file_id)]
    top = [p for p in env.inbox.iterdir() if p.is_file() and p.suffix != ".yaml"]
    assert [p.read_bytes() for p in top] == [env.source.content(general.files[0].file_id)]
    assert not list((support / ".tmp").iterdir())


# -- names ---------------------------------------------------------------------------


HOSTILE = (
    "../../etc/cron.d/x",
    "/abs",
    "..\\..\\windows\\x.pdf",
    "nul\x00byte.pdf",
    "ctl\n\r\x1b.pdf",
    "x" * 10000 + ".pdf",
    "caf\udce9.pdf",
    "dup.pdf",
    "dup.pdf",
    "",
    "..",
    ".",
)


def test_hostile_remote_names_become_safe_unique_names_inside_the_inbox(env: Env) -> None:
    moment = NOW - timedelta(hours=1)
    docs = [env.source.add(moment, names=(name,)) for name in HOSTILE]
    docs.append(env.source.add(moment, names=("dup.pdf", "dup.pdf")))
    result = env.poller().poll_once()
    assert result.error is None
    expect_exactly_once(env, file_ids(docs))
    names = [p.name for p in env.inbox.iterdir() if p.is_file()]
    assert len(names) == len(file_ids(docs))
    assert sorted(p.name for p in (env.inbox / ".meta").iterdir()) == sorted(
        f"{name}.yaml" for name in names
    )
    for name in names:
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert name.isprintable()
        assert len(name.encode()) <= 255
        assert name.startswith("20261123-120000_46927654321_")
    assert sum(1 for n in names if "dup" in n) == 4
    assert not (env.tmp / "etc").exists() and not Path("/abs").exists()


def test_names_fall_back_to_content_disposition_then_file_id() -> None:
    assert original_name("scan.pdf", "other.pdf", "id1") == "scan.pdf"
    assert original_name("", "other.pdf", "id1") == "other.pdf"
    assert original_name("..", None, "id1") == "id1"
    assert original_name(None, "  ", "id1") == "id1"


def test_an_empty_listing_name_uses_the_download_name(env: Env) -> None:
    env.source.add(at(NOW, -60), names=("",), disposition="from-header.pdf")
    env.poller().poll_once()
    (name,) = [p.name for p in env.inbox.iterdir() if p.suffix == ".pdf"]
    assert name.endswith("_from-header.pdf")


def test_a_name_taken_by_someone_else_is_never_overwritten(env: Env) -> None:
    doc = env.source.add(NOW - timedelta(hours=1))
    local = doc.time.astimezone(TZ)
    env.inbox.mkdir()
    squatter = env.inbox / f"{local:%Y%m%d-%H%M%S}_46927654321_fax.pdf"
    squatter.write_bytes(b"mine")
    env.poller().poll_once()
    assert squatter.read_bytes() == b"mine"
    numbered = env.inbox / f"{local:%Y%m%d-%H%M%S}_46927654321_fax (2).pdf"
    assert numbered.read_bytes() == env.source.content(doc.files[0].file_id)


def test_names_differing_only_in_case_are_numbered_as_on_a_windows_share(env: Env) -> None:
    # Windows opens one file for all of these names: on an SMB share the others could
    # not be told apart, and copied off the share they would overwrite each other.
    moment = NOW - timedelta(hours=1)
    env.inbox.mkdir()
    stamp = f"{moment.astimezone(TZ):%Y%m%d-%H%M%S}_46927654321_"
    (env.inbox / f"{stamp}ÉTÉ.pdf").write_bytes(b"mine")
    for name in ("Report.pdf", "report.pdf", "REPORT.PDF", "été.pdf"):
        env.source.add(moment, names=(name,))
    env.poller().poll_once()
    names = sorted(p.name for p in env.inbox.iterdir() if p.is_file())
    assert len({name.casefold() for name in names}) == len(names) == 5, names
    assert f"{stamp}été (2).pdf" in names


TIFF = b"II*\x00\x08\x00\x00\x00" + bytes(600)
PDF = b"%PDF-1.4\n" + bytes(600)


def test_a_file_whose_name_belies_its_bytes_is_named_for_what_opens_it(env: Env) -> None:
    # Windows opens a file by its extension: a TIFF called .pdf opens in the PDF reader,
    # which cannot read it; bytes faxd does not recognise keep the name they came with.
    moment = NOW - timedelta(hours=1)
    sent = {
        "scan.pdf": TIFF,
        "fax": PDF,
        "Invoice.pdf.exe": PDF,
        "page.TIFF": TIFF,
        "letter.pdf": PDF,
        "notes.dat": b"\x00\x01 not a known format" * 40,
        "cars.csv": b"BMW,X5,2020\r\n" * 50,
    }
    for name, content in sent.items():
        doc = env.source.add(moment, names=(name,))
        env.source.docs[doc.remote_id].contents[doc.files[0].file_id] = content
    env.poller().poll_once()
    stamp = f"{moment.astimezone(TZ):%Y%m%d-%H%M%S}_46927654321_"
    got = {p.name.removeprefix(stamp): p.read_bytes() for p in env.inbox.iterdir() if p.is_file()}
    assert got == {
        "scan.tif": TIFF,
        "fax.pdf": PDF,
        "Invoice.pdf.exe.pdf": PDF,
        "page.TIFF": TIFF,
        "letter.pdf": PDF,
        "notes.dat": sent["notes.dat"],
        "cars.csv": sent["cars.csv"],
    }
    meta = yaml.safe_load((env.inbox / ".meta" / f"{stamp}scan.tif.yaml").read_text())
    assert meta["original_name"] == "scan.pdf"


# -- crashes -------------------------------------------------------------------------


def crash_at(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    def hook(name: str) -> None:
        if name == point:
            raise SimulatedCrash(name)

    monkeypatch.setattr(faxd.inbound.poller_delivery, "crash_point", hook)


@pytest.mark.parametrize(
    ("point", "downloads"),
    [
        ("inbound_after_tmp", 2),  # nothing visible yet: downloaded again
        ("inbound_after_rename", 1),  # in place, commit lost: recognised, not downloaded again
        ("inbound_before_commit", 1),
    ],
)
def test_a_crash_at_any_point_leaves_one_complete_copy(
    env: Env, monkeypatch: pytest.MonkeyPatch, point: str, downloads: int
) -> None:
    doc = env.source.add(NOW - timedelta(hours=1))
    crash_at(monkeypatch, point)
    with pytest.raises(SimulatedCrash):
        env.poller().poll_once()
    monkeypatch.undo()
    env.restart()
    result = env.poller().poll_once()
    assert result.error is None
    expect_exactly_once(env, file_ids([doc]))
    assert len(env.source.fetches) == downloads
    assert len(list((env.inbox / ".meta").glob("*.yaml"))) == 1
    assert env.ledger().row(doc.remote_id, doc.files[0].file_id).state == "delivered"  # type: ignore[union-attr]


def test_leftovers_in_tmp_are_removed_at_start(env: Env) -> None:
    (env.inbox / ".tmp").mkdir(parents=True)
    (env.inbox / ".tmp" / "half-written.part").write_bytes(b"x" * 100)
    result = env.poller().poll_once()
    assert result.tmp_removed == 1
    assert tmp_leftovers(env.tmp) == []


@pytest.mark.parametrize("own", [".tmp", ".meta"])
def test_an_inbox_folder_of_faxd_swapped_for_a_link_is_an_error_not_a_place_to_clear(
    env: Env, own: str
) -> None:
    # Whoever may write in the inbox links .tmp (cleared at start) or .meta to faxd's
    # state folder: faxd would remove its own journal, or write beside it.
    env.inbox.mkdir()
    (env.inbox / own).symlink_to(env.journal_path.parent, target_is_directory=True)
    before = sorted(p.name for p in env.journal_path.parent.iterdir())
    doc = env.source.add(NOW - timedelta(hours=1))
    result = env.poller().poll_once()
    assert result.error is not None
    assert f"its {own} folder is a symbolic link" in result.error
    assert sorted(p.name for p in env.journal_path.parent.iterdir()) == before
    assert env.source.fetches == []
    (env.inbox / own).unlink()
    assert env.poller().poll_once().error is None
    expect_exactly_once(env, file_ids([doc]))


def test_a_planned_name_now_holding_other_bytes_is_downloaded_again(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = env.source.add(NOW - timedelta(hours=1))
    crash_at(monkeypatch, "inbound_after_rename")
    with pytest.raises(SimulatedCrash):
        env.poller().poll_once()
    monkeypatch.undo()
    (placed,) = [p for p in env.inbox.iterdir() if p.is_file()]
    placed.write_bytes(b"the user replaced it")
    env.restart()
    env.poller().poll_once()
    assert len(env.source.fetches) == 2
    assert placed.read_bytes() == b"the user replaced it"
    contents = list(inbox_files(env.tmp).values())
    assert contents.count(env.source.content(doc.files[0].file_id)) == 1


# -- deleting at the provider ------------------------------------------------------------


def test_delete_after_download_only_once_the_file_is_committed_on_disk(env: Env) -> None:
    docs = [env.source.add(at(NOW, -60 * i), names=("a.pdf", "b.pdf")) for i in range(3)]
    seen: list[tuple[str, int, list[str]]] = []

    def check(remote_id: str) -> None:
        ledger = env.ledger()
        states = [
            ledger.row(remote_id, f.file_id).state  # type: ignore[union-attr]
            for f in env.source.docs[remote_id].doc.files
        ]
        on_disk = sum(
            1
            for content in inbox_files(env.tmp).values()
            for f in env.source.docs[remote_id].doc.files
            if content == env.source.content(f.file_id)
        )
        seen.append((remote_id, on_disk, states))

    env.source.on_delete = check
    result = env.poller(delete_after_download=True).poll_once()
    assert result.deleted == 3
    assert sorted(env.source.deletes) == sorted(d.remote_id for d in docs)
    for _, on_disk, states in seen:
        assert on_disk == 2
        assert states == [InboundState.DELIVERED, InboundState.DELIVERED]


def test_without_delete_after_download_nothing_is_deleted(env: Env) -> None:
    env.source.add(at(NOW, -60))
    env.poller().poll_once()
    assert env.source.deletes == []


def test_a_crash_before_the_remote_delete_deletes_after_restart(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = env.source.add(at(NOW, -60))
    crash_at(monkeypatch, "inbound_before_delete")
    with pytest.raises(SimulatedCrash):
        env.poller(delete_after_download=True).poll_once()
    monkeypatch.undo()
    assert env.source.deletes == []
    env.restart()
    result = env.poller(delete_after_download=True).poll_once()
    assert env.source.deletes == [doc.remote_id]
    assert result.deleted == 1
    expect_exactly_once(env, file_ids([doc]))


def test_a_failed_delete_is_retried_and_a_404_counts_as_done(env: Env) -> None:
    env.source.add(at(NOW, -60))
    env.source.delete_errors = [TransientError("503 from the provider")]
    poller = env.poller(delete_after_download=True)
    assert poller.poll_once().deleted == 0
    assert poller.status().pending_deletes == 1
    env.source.delete_errors = [RejectedError("404 Not Found", status_code=404)]
    env.clock.advance(60)
    assert poller.poll_once().deleted == 1
    assert poller.status().pending_deletes == 0


# -- errors --------------------------------------------------------------------------


class _FullDisk:
    """A file object whose writes fail as on a full disk."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def write(self, data: bytes) -> int:
        self._real.write(data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_full_disk_leaves_no_partial_file_and_is_retried(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = env.source.add(at(NOW, -60), size=20000)
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FullDisk(real_fdopen(fd, mode)))
    poller = env.poller()
    result = poller.poll_once()
    assert result.error is not None
    assert "No space left on device" in result.error
    assert str(env.inbox) in result.error and doc.remote_id in result.error
    assert poller.status().last_error == result.error
    assert inbox_files(env.tmp) == {}
    assert tmp_leftovers(env.tmp) == []
    assert env.ledger().watermark() is None
    monkeypatch.undo()
    env.clock.advance(60)
    assert poller.poll_once().delivered == 1
    expect_exactly_once(env, file_ids([doc]))
    assert poller.status().last_error is None


def test_a_file_larger_than_accepted_is_given_up_without_a_partial_file(env: Env) -> None:
    big = env.source.add(at(NOW, -60), size=50000)
    small = env.source.add(at(NOW, -30), size=100)
    poller = env.poller(frozenset({OURS}), tuning={"max_file_size": 10000})
    result = poller.poll_once()
    assert (result.delivered, result.unavailable) == (1, 1)
    expect_exactly_once(env, file_ids([small]))
    row = env.ledger().row(big.remote_id, big.files[0].file_id)
    assert row is not None and row.state is InboundState.UNAVAILABLE


def test_a_provider_error_ends_the_cycle_and_the_next_one_continues(env: Env) -> None:
    docs = [env.source.add(at(NOW, -60 * i)) for i in range(4)]
    env.source.fetch_errors[docs[1].files[0].file_id] = [TransientError("502 Bad Gateway")]
    poller = env.poller()
    first = poller.poll_once()
    assert first.error is not None and "502" in first.error
    assert env.ledger().watermark() is None  # a window with an undelivered document
    env.clock.advance(60)
    second = poller.poll_once()
    assert second.error is None
    expect_exactly_once(env, file_ids(docs))
    assert env.ledger().watermark() == NOW + timedelta(seconds=60)


def test_one_file_that_answers_a_server_error_holds_up_no_other_document(env: Env) -> None:
    # Listed in the first of several parts (the window is split): the parts after it
    # were never looked at while that one file kept failing.
    broken = env.source.add(at(NOW, -7 * 400))
    docs = [env.source.add(at(NOW, -7 * i - 1)) for i in range(350)]
    env.source.fetch_errors[broken.files[0].file_id] = [
        TransientError("500 Internal Server Error", status_code=500) for _ in range(5)
    ]
    poller = env.poller()
    with capture_logs() as logs:
        first = poller.poll_once()
        env.clock.advance(60)
        second = poller.poll_once()
    assert (first.error, second.error) == (None, None)
    assert first.windows >= 4 and first.delivered == 350
    assert (first.file_errors, second.file_errors) == (1, 1)
    expect_exactly_once(env, file_ids(docs))
    said = [e for e in logs if "server error" in e["event"]]
    assert [e["remote_id"] for e in said] == [broken.remote_id]  # once, not per poll
    env.source.fetch_errors.clear()
    env.clock.advance(60)
    assert poller.poll_once().delivered == 1  # and it arrives once it can


def test_server_errors_for_several_files_end_the_cycle_as_an_outage(env: Env) -> None:
    docs = [env.source.add(at(NOW, -60 * i)) for i in range(6)]
    for doc in docs:
        env.source.fetch_errors[doc.files[0].file_id] = [
            TransientError("503 Service Unavailable", status_code=503)
        ]
    poller = env.poller(tuning={"workers": 1})
    first = poller.poll_once()
    assert first.error is not None and "503" in first.error
    # Not one request per document: none begins once the outage is clear.
    assert first.file_errors == FILE_ERRORS_PER_CYCLE < len(docs)
    assert len(env.source.fetches) == FILE_ERRORS_PER_CYCLE
    env.source.fetch_errors.clear()
    env.clock.advance(60)
    assert poller.poll_once().error is None
    expect_exactly_once(env, file_ids(docs))


def test_a_file_the_provider_will_not_hand_out_is_retried_then_given_up(env: Env) -> None:
    gone = env.source.add(at(NOW, -60))
    env.source.fetch_errors[gone.files[0].file_id] = [
        RejectedError("404 Not Found", status_code=404) for _ in range(MAX_MISSING_ATTEMPTS)
    ]
    poller = env.poller()
    for _ in range(MAX_MISSING_ATTEMPTS - 1):
        assert poller.poll_once().unavailable == 0
        assert env.ledger().watermark() is None
        env.clock.advance(60)
    with capture_logs() as logs:
        last = poller.poll_once()
    assert last.unavailable == 1
    assert env.ledger().watermark() is not None
    assert any(e["log_level"] == "error" and gone.remote_id in str(e["event"]) for e in logs)
    env.source.fetch_errors.clear()
    env.clock.advance(60)
    assert poller.poll_once().delivered == 0  # given up for good


def test_only_answers_that_were_no_file_count_toward_giving_up(env: Env) -> None:
    # Two downloads that broke off half way, then one refusal: the refusal is the first,
    # not the third, and the file arrives on the next poll.
    doc = env.source.add(at(NOW, -60))
    file_id = doc.files[0].file_id
    real_fetch = env.source.fetch
    plan = ["break", "break", "refused", "file"]

    def fetch(wanted: str, dest: Any) -> str | None:
        step = plan.pop(0) if wanted == file_id else "file"
        if step == "break":
            dest.write(b"%PDF-1.4 half")
            raise TransientError("the download broke off after 13 bytes.")
        if step == "refused":
            raise RejectedError(
                "404 Not Found", "Sending it again unchanged fails the same way.", status_code=404
            )
        return real_fetch(wanted, dest)

    env.source.fetch = fetch  # type: ignore[method-assign,assignment]
    poller = env.poller()
    with capture_logs() as logs:
        for _ in range(4):
            poller.poll_once()
            env.clock.advance(60)
    row = env.ledger().row(doc.remote_id, file_id)
    assert row is not None and row.state == InboundState.DELIVERED
    assert plan == []
    refused = [e for e in logs if "not available yet" in e["event"]]
    assert [e["error"] for e in refused] == ["404 Not Found"]  # no advice for sending


def test_an_auth_error_is_logged_loudly(env: Env) -> None:
    env.source.list_errors = [AuthError("401 Unauthorized from Generic DOCS")]
    with capture_logs() as logs:
        result = env.poller().poll_once()
    assert result.error is not None and "401" in result.error
    assert any(e["log_level"] == "error" and "credentials" in str(e["event"]) for e in logs)


def test_run_survives_an_unexpected_error_and_stops_when_told(env: Env) -> None:
    doc = env.source.add(at(NOW, -60))
    stop = threading.Event()
    calls: list[int] = []

    def on_list() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")

    real_fetch = env.source.fetch

    def fetch_then_stop(file_id: str, dest: Any) -> str | None:
        try:
            return real_fetch(file_id, dest)
        finally:
            stop.set()

    env.source.on_list = on_list
    env.source.fetch = fetch_then_stop  # type: ignore[method-assign]
    poller = env.poller(poll_interval=0.0)
    thread = threading.Thread(target=poller.run, args=(stop,))
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(calls) == 2
    expect_exactly_once(env, file_ids([doc]))


def test_status_reports_the_last_poll_and_todays_files(env: Env) -> None:
    for i in range(3):
        env.source.add(at(NOW, -60 * i))
    poller = env.poller()
    assert poller.status().last_poll is None
    poller.poll_once()
    status = poller.status()
    assert status.received_today == 3
    assert status.last_poll == NOW.isoformat()
    assert status.last_error is None
    env.clock.advance(86400)
    assert poller.status().received_today == 0


def test_once_stop_is_set_no_further_download_starts(env: Env) -> None:
    docs = [env.source.add(at(NOW, -60 * i)) for i in range(5)]
    stop = threading.Event()
    real_fetch = env.source.fetch

    def fetch_then_stop(file_id: str, dest: Any) -> str | None:
        stop.set()
        return real_fetch(file_id, dest)

    env.source.fetch = fetch_then_stop  # type: ignore[method-assign]
    poller = env.poller(frozenset({OURS}), tuning={"workers": 1})
    # The download in flight stops too (a reload's successor takes it), leaving nothing.
    first = poller.poll_once(stop)
    assert (first.delivered, first.retry) == (0, 1)
    assert inbox_files(env.tmp) == {} and tmp_leftovers(env.tmp) == []
    assert env.ledger().watermark() is None  # the window is not done
    env.clock.advance(60)
    assert poller.poll_once().delivered == 5
    expect_exactly_once(env, file_ids(docs))


def test_an_inbox_that_cannot_be_created_is_named_in_the_error(env: Env) -> None:
    blocker = env.tmp / "blocker"
    blocker.write_text("a file where the inbox's parent should be")
    env.inbox = blocker / "inbox"
    env.source.add(at(NOW, -60))
    result = env.poller().poll_once()
    assert result.error is not None
    assert result.error.startswith(f"Could not prepare the inbox folder {env.inbox}:")
    assert env.source.fetches == []


def test_a_document_listed_twice_in_one_listing_is_downloaded_once(env: Env) -> None:
    doc = env.source.add(at(NOW, -60))
    real_list = env.source.list_received

    def doubled(start: datetime, end: datetime, *, fractions: bool = False) -> list[Any]:
        found = real_list(start, end, fractions=fractions)
        return found + found

    env.source.list_received = doubled  # type: ignore[method-assign]
    result = env.poller().poll_once()
    assert (result.listed, result.delivered) == (1, 1)
    assert env.source.fetches == [doc.files[0].file_id]
    expect_exactly_once(env, file_ids([doc]))


def test_a_document_is_deleted_only_once_all_its_files_are_delivered(env: Env) -> None:
    doc = env.source.add(at(NOW, -60), names=("a.pdf", "b.pdf"))
    # The first file is not ready yet; the second is delivered meanwhile.
    env.source.fetch_errors[doc.files[0].file_id] = [RejectedError("404 Not Found")]
    poller = env.poller(delete_after_download=True)
    first = poller.poll_once()
    assert (first.delivered, first.deleted) == (1, 0)
    assert env.source.deletes == []
    env.clock.advance(60)
    second = poller.poll_once()
    assert (second.delivered, second.deleted) == (1, 1)
    assert env.source.deletes == [doc.remote_id]
    expect_exactly_once(env, file_ids([doc]))


def test_renaming_the_provider_does_not_download_again(env: Env) -> None:
    docs = [env.source.add(at(NOW, -60 * i)) for i in range(3)]
    env.poller().poll_once()
    env.source.name = "renamed"
    env.clock.advance(60)
    result = env.poller().poll_once()
    assert (result.delivered, result.known) == (0, 3)
    expect_exactly_once(env, file_ids(docs))


# -- metadata names, the unknown zone, overfull seconds, slow and unready documents --------


def test_a_remote_x_yaml_never_takes_the_place_of_document_xs_metadata(env: Env) -> None:
    moment = NOW - timedelta(minutes=5)
    # Listed together, downloaded by parallel workers: "scan.pdf.yaml" is a document too.
    docs = [
        env.source.add(moment, names=("scan.pdf",)),
        env.source.add(moment, names=("scan.pdf.yaml",)),
        env.source.add(moment, names=("scan.pdf.yaml.yaml",)),
    ]
    result = env.poller().poll_once()
    assert result.delivered == 3
    expect_exactly_once(env, file_ids(docs))
    for doc in docs:
        row = env.ledger().row(doc.remote_id, doc.files[0].file_id)
        assert row is not None and row.path is not None
        meta = yaml.safe_load((env.inbox / ".meta" / f"{row.path.name}.yaml").read_text())
        assert (meta["id"], meta["file"]) == (doc.remote_id, row.path.name)
        assert row.path.read_bytes() == env.source.content(doc.files[0].file_id)


@pytest.mark.parametrize("skew_hours", [-14, -9, -1, 1, 9, 14])
def test_documents_arriving_after_the_first_poll_arrive_whatever_the_providers_zone(
    env: Env, skew_hours: int
) -> None:
    """The provider stamps in a zone `skew_hours` away from the configured one, so every
    time it shows reads that much off; each later document still arrives, once."""
    skew = timedelta(hours=skew_hours)
    env.source.add(NOW - timedelta(hours=2) + skew)
    env.poller().poll_once()
    late = []
    for _ in range(3):
        env.clock.advance(60)
        late.append(env.source.add(env.clock.now() - timedelta(seconds=5) + skew))
        env.poller().poll_once()
    delivered = {row["remote_id"] for row in env.journal.query("SELECT remote_id FROM inbound")}
    assert {d.remote_id for d in late} <= delivered
    assert len(inbox_files(env.tmp)) == 4


def test_a_document_in_a_second_with_a_hundred_outbound_ones_is_fetched(env: Env) -> None:
    second = NOW - timedelta(minutes=3)
    for i in range(100):
        sent = env.source.add(second + timedelta(milliseconds=3 * i + 1), recipient=STRANGER)
        env.outbound.add(sent.remote_id)
    ours = env.source.add(second + timedelta(milliseconds=900))
    result = env.poller().poll_once()
    assert result.truncated_windows == 0
    assert result.outbound == 100
    expect_exactly_once(env, file_ids([ours]))


def test_a_second_that_stays_overfull_is_said_once_and_listed_again(env: Env) -> None:
    env.source.page_limit = 5
    env.source.fractions = False
    second = NOW - timedelta(hours=1)
    docs = [env.source.add(second) for _ in range(7)]
    with capture_logs() as logs:
        first = env.poller().poll_once()
    errors = [e for e in logs if e["log_level"] == "error" and "full page" in e["event"]]
    # Said for each cut-off window (the two whole seconds sharing that instant) …
    assert errors and all(e["start"] <= second.isoformat() <= e["end"] for e in errors)
    env.clock.advance(60)
    env.source.listings.clear()
    with capture_logs() as logs:
        env.poller().poll_once()
    # … and not again when the next poll finds it cut off still.
    assert not [e for e in logs if e["log_level"] == "error"]
    assert first.truncated_windows >= 1 and first.delivered == 5
    # The rest of the inbox goes on: the watermark moved past the overfull second …
    watermark = env.ledger().watermark()
    assert watermark is not None and watermark > second
    # … which is listed again on every later poll, and kept in the journal until resolved.
    assert any(start <= second <= end for start, end in env.source.listings)
    assert env.ledger().unresolved()
    assert env.poller().status().incomplete_seconds >= 1
    env.source.page_limit = 100  # the provider answers it completely now
    env.clock.advance(60)
    env.poller().poll_once()
    assert env.ledger().unresolved() == []
    expect_exactly_once(env, file_ids(docs))


class TricklingSource(FakeSource):
    """Hands out one file a few bytes at a time, each piece taking 10 s on the fake clock."""

    def __init__(self, clock: FakeClock, slow: set[str]) -> None:
        super().__init__()
        self.clock = clock
        self.slow = slow

    def fetch(self, file_id: str, dest: Any) -> str | None:
        if file_id not in self.slow:
            return super().fetch(file_id, dest)
        self.fetches.append(file_id)
        self.slow.discard(file_id)  # a later try is fast
        data = self.content(file_id)
        for at_byte in range(0, len(data), 100):
            self.clock.advance(10)
            dest.write(data[at_byte : at_byte + 100])
        return None


def test_a_trickling_download_is_stopped_at_its_deadline_and_tried_again(env: Env) -> None:
    env.source = TricklingSource(env.clock, set())
    docs = [env.source.add(at(NOW, -60 * i), size=10_000) for i in range(4)]
    slow = docs[0].files[0].file_id
    env.source.slow.add(slow)
    poller = env.poller(download_timeout=60.0, tuning={"workers": 1})
    with capture_logs() as logs:
        first = poller.poll_once()
        after_first = env.ledger().row(docs[0].remote_id, slow)
        env.clock.advance(60)
        second = poller.poll_once()
    assert (first.delivered, first.retry, first.error) == (3, 1, None)
    assert after_first is not None and after_first.state == InboundState.RETRY
    assert second.delivered == 1
    slow_lines = [e for e in logs if "too slowly" in e["event"]]
    assert len(slow_lines) == 1 and slow_lines[0]["log_level"] == "warning"
    expect_exactly_once(env, file_ids(docs))


def test_a_document_still_sending_or_without_files_is_never_marked_done(env: Env) -> None:
    sending = env.source.add(at(NOW, -120))
    empty = env.source.add(at(NOW, -60))
    stored_sending, stored_empty = (
        env.source.docs[sending.remote_id],
        env.source.docs[empty.remote_id],
    )
    stored_sending.doc = replace(sending, status="Sending")
    stored_empty.doc = replace(empty, files=())
    for _ in range(2):
        result = env.poller().poll_once()
        assert (result.delivered, result.not_ready) == (0, 2)
        env.clock.advance(60)
    assert env.ledger().watermark() is None or env.ledger().watermark() < sending.time  # type: ignore[operator]
    stored_sending.doc, stored_empty.doc = sending, empty
    assert env.poller().poll_once().delivered == 2
    expect_exactly_once(env, file_ids([sending, empty]))


def test_a_document_listed_for_several_numbers_is_ours_when_one_of_them_is(
    env: Env,
) -> None:
    support = env.tmp / "support"
    doc = env.source.add(at(NOW, -60), recipient=STRANGER)
    stored = env.source.docs[doc.remote_id]
    stored.doc = replace(doc, recipients=(STRANGER, SUPPORT))
    result = env.poller(routes={SUPPORT: support}).poll_once()
    assert (result.delivered, result.foreign) == (1, 0)
    (only,) = [p for p in support.iterdir() if p.is_file()]
    assert only.read_bytes() == env.source.content(doc.files[0].file_id)
    meta = yaml.safe_load((support / ".meta" / f"{only.name}.yaml").read_text())
    assert meta["recipient"] == SUPPORT


def test_a_delivered_row_is_never_planned_again(env: Env) -> None:
    doc = env.source.add(at(NOW, -60))
    env.poller().poll_once()
    ledger = env.ledger()
    row = ledger.row(doc.remote_id, doc.files[0].file_id)
    assert row is not None and row.state == InboundState.DELIVERED
    again = ledger.plan(
        doc.remote_id, doc.files[0].file_id, env.inbox / "gone.pdf", "0" * 64, 1, row.meta, 0.0
    )
    assert again is False
    assert ledger.row(doc.remote_id, doc.files[0].file_id) == row


def test_a_second_poller_waits_for_the_first_ones_cycle(env: Env) -> None:
    """A reload builds a new poller while the old one downloads: the new one must not
    clean `.tmp/` under it, nor deliver the same file beside it."""
    doc = env.source.add(at(NOW, -60))
    entered, release = threading.Event(), threading.Event()
    real_fetch = env.source.fetch

    def held_fetch(file_id: str, dest: Any) -> str | None:
        entered.set()
        release.wait(30)
        return real_fetch(file_id, dest)

    env.source.fetch = held_fetch  # type: ignore[method-assign]
    old, new = env.poller(), env.poller()
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.setdefault("old", old.poll_once()))
    second = threading.Thread(target=lambda: results.setdefault("new", new.poll_once()))
    first.start()
    assert entered.wait(30)
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive()  # held until the old cycle ends
    release.set()
    first.join(30)
    second.join(30)
    assert results["old"].delivered == 1 and results["new"].delivered == 0
    row = env.ledger().row(doc.remote_id, doc.files[0].file_id)
    assert row is not None and row.path is not None and row.path.is_file()
    expect_exactly_once(env, file_ids([doc]))


def test_a_download_broken_off_midway_does_not_stop_the_others(env: Env) -> None:
    docs = [env.source.add(at(NOW, -60 * i)) for i in range(6)]
    broken = docs[0].files[0].file_id
    real_fetch = env.source.fetch
    tries: list[str] = []

    def breaking_fetch(file_id: str, dest: Any) -> str | None:
        if file_id == broken and not tries:
            tries.append(file_id)
            dest.write(b"%PDF-1.4 half")
            raise TransientError("download of file x: the download broke off after 13 bytes.")
        return real_fetch(file_id, dest)

    env.source.fetch = breaking_fetch  # type: ignore[method-assign]
    first = env.poller(tuning={"workers": 1}).poll_once()
    assert (first.error, first.delivered, first.retry) == (None, 5, 1)
    assert tmp_leftovers(env.tmp) == []
    env.clock.advance(60)
    assert env.poller().poll_once().delivered == 1
    expect_exactly_once(env, file_ids(docs))


def test_a_journal_that_cannot_record_a_download_leaves_no_copy_in_tmp(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full state disk: each poll downloaded the file again and left the copy in the
    # inbox's .tmp/ until faxd restarted, filling the inbox's disk as well.
    from faxd.store.journal import JournalWriteError

    docs = [env.source.add(at(NOW, -60))]
    poller = env.poller()

    def full(*args: object, **kwargs: object) -> bool:
        raise JournalWriteError("the journal cannot be written (disk full)")

    monkeypatch.setattr(poller.ledger, "plan", full)
    for _ in range(3):
        result = poller.poll_once()
        assert result.error is not None
    assert tmp_leftovers(env.tmp) == []
    monkeypatch.undo()
    assert poller.poll_once().error is None
    expect_exactly_once(env, file_ids(docs))


def test_an_outage_is_logged_when_it_starts_hourly_and_when_it_ends(env: Env) -> None:
    # A provider down for an hour fails 60 polls at the default interval; the admin's log
    # must show the outage, not bury everything else under 60 copies of it.
    down = TransientError("503 Service Unavailable from Generic DOCS")
    poller = env.poller()
    env.source.list_errors = [down] * 70
    with capture_logs() as logs:
        for _ in range(65):
            assert poller.poll_once().error is not None
            env.clock.advance(60)
    loud = [e for e in logs if e["log_level"] in ("warning", "error")]
    assert [e["event"] for e in loud] == ["inbox poll interrupted"] * 2  # at 0 and 60 min
    assert all("503" in e["error"] for e in loud)
    env.source.list_errors = [AuthError("401 Unauthorized from Generic DOCS")]
    with capture_logs() as logs:
        poller.poll_once()  # another failure is said at once
        env.source.list_errors = []
        env.source.add(at(NOW, -60))
        env.clock.advance(60)
        assert poller.poll_once().error is None
        poller.poll_once()
    events = [(e["log_level"], e["event"]) for e in logs if e["log_level"] != "debug"]
    assert events.count(("info", "inbox poll works again")) == 1
    assert any(level == "error" and "credentials" in event for level, event in events)
