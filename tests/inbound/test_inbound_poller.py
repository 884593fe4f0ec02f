"""The inbox poller against a fake source: exactly-once bookkeeping across overlapping
windows, restarts and crashes at every crash point; filtering, routes, names, deletion
order and local write errors."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from structlog.testing import capture_logs

import faxd.inbound.poller
from faxd.clock import FakeClock
from faxd.errors import AuthError, RejectedError, TransientError
from faxd.inbound.poller import MAX_MISSING_ATTEMPTS, InboxPoller, normalise_number, original_name
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
    old = env.source.add(NOW - timedelta(days=2))
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
    meta = yaml.safe_load((env.inbox / f"{name}.yaml").read_text())
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
    assert env.source.listings[0][0] == NOW - timedelta(minutes=10)
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
    assert len(names) == 2 * len(file_ids(docs))
    for name in names:
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert name.isprintable()
        assert len(name.encode()) <= 255
        assert name.startswith("20261123-120000_46927654321_")
    assert sum(1 for n in names if "dup" in n and not n.endswith(".yaml")) == 4
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


def test_numbers_are_compared_in_international_form() -> None:
    assert normalise_number("+46 8-123 45") == normalise_number("0046812345") == "+46812345"


# -- crashes -------------------------------------------------------------------------


def crash_at(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    def hook(name: str) -> None:
        if name == point:
            raise SimulatedCrash(name)

    monkeypatch.setattr(faxd.inbound.poller, "crash_point", hook)


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
    assert len(list(env.inbox.glob("*.yaml"))) == 1
    assert env.ledger().row(doc.remote_id, doc.files[0].file_id).state == "delivered"  # type: ignore[union-attr]


def test_leftovers_in_tmp_are_removed_at_start(env: Env) -> None:
    (env.inbox / ".tmp").mkdir(parents=True)
    (env.inbox / ".tmp" / "half-written.part").write_bytes(b"x" * 100)
    result = env.poller().poll_once()
    assert result.tmp_removed == 1
    assert tmp_leftovers(env.tmp) == []


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
    assert poller.status()["pending_deletes"] == 1
    env.source.delete_errors = [RejectedError("404 Not Found", status_code=404)]
    env.clock.advance(60)
    assert poller.poll_once().deleted == 1
    assert poller.status()["pending_deletes"] == 0


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
    assert poller.status()["last_error"] == result.error
    assert inbox_files(env.tmp) == {}
    assert tmp_leftovers(env.tmp) == []
    assert env.ledger().watermark() is None
    monkeypatch.undo()
    env.clock.advance(60)
    assert poller.poll_once().delivered == 1
    expect_exactly_once(env, file_ids([doc]))
    assert poller.status()["last_error"] is None


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
        stop.set()
        return real_fetch(file_id, dest)

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
    assert poller.status()["last_poll"] is None
    poller.poll_once()
    status = poller.status()
    assert status["received_today"] == 3
    assert status["last_poll"] == NOW.isoformat()
    assert status["last_error"] is None
    env.clock.advance(86400)
    assert poller.status()["received_today"] == 0


def test_once_stop_is_set_no_further_download_starts(env: Env) -> None:
    docs = [env.source.add(at(NOW, -60 * i)) for i in range(5)]
    stop = threading.Event()
    real_fetch = env.source.fetch

    def fetch_then_stop(file_id: str, dest: Any) -> str | None:
        stop.set()
        return real_fetch(file_id, dest)

    env.source.fetch = fetch_then_stop  # type: ignore[method-assign]
    poller = env.poller(frozenset({OURS}), tuning={"workers": 1})
    assert poller.poll_once(stop).delivered == 1
    assert env.ledger().watermark() is None  # the window is not done
    env.clock.advance(60)
    assert poller.poll_once().delivered == 4
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

    def doubled(start: datetime, end: datetime) -> list[Any]:
        found = real_list(start, end)
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
