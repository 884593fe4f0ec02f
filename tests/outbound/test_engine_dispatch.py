"""The dispatcher asks the journal for at most as many rows as may be under way: rows
already in flight must not take the places of those that can start. Uploads under way
are UPLOADS_PER_SLOT per request slot; the request slots bound what is at the provider."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from faxd.model import TxState
from faxd.outbound.engine import STATUS_HOLD, UPLOADS_PER_SLOT

from .engine_rig import Rig

CONCURRENCY = 2
AHEAD = CONCURRENCY * UPLOADS_PER_SLOT


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, concurrency=CONCURRENCY)
    yield r
    r.close()


def wait_until(predicate: Any) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "the worker did not finish"
        time.sleep(0.005)


def test_a_free_slot_is_filled_although_the_oldest_due_row_is_in_flight(rig: Rig) -> None:
    oldest, second, _third = rig.job(), rig.job(), rig.job()
    busy = rig.tx(oldest).key
    # as if a worker were still busy with the oldest row, before its SUBMITTING commit
    rig.engine._inflight.add(busy)
    rig.engine._uploads["fake"] = AHEAD - 1
    try:
        rig.engine.dispatch()
        wait_until(lambda: len(rig.sender.submits) == 1 and rig.engine.in_flight() == 1)
        assert [key for _, key in rig.sender.submits] == [rig.tx(second).key]
    finally:
        rig.engine._inflight.discard(busy)


def test_nothing_is_read_for_a_provider_without_a_free_slot(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.job()
    rig.engine._uploads["fake"] = AHEAD
    asked: list[tuple[Any, ...]] = []
    real = rig.journal.due_transmissions

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(rig.journal, "due_transmissions", spy)
    rig.engine.dispatch()
    # No upload rows read; lookups, and status queries held while uploads are busy.
    assert [tuple(args[0]) for args in asked] == [(TxState.OUTCOME_UNKNOWN,), (TxState.SUBMITTED,)]
    assert rig.sender.submits == []


def test_a_wake_that_comes_while_the_dispatcher_looks_is_not_lost(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A job journaled (and its wake sent) while the dispatcher reads the journal: the
    # dispatcher must look again at once, not sleep its whole idle wait first.
    monkeypatch.setattr(rig.engine, "_idle_wait", lambda: 60.0)
    looks: list[float] = []
    real = rig.engine.dispatch

    def dispatch() -> None:
        looks.append(time.monotonic())
        real()
        if len(looks) == 1:
            rig.engine.wake()  # after its read, before it waits

    monkeypatch.setattr(rig.engine, "dispatch", dispatch)
    stop = threading.Event()
    runner = threading.Thread(target=rig.engine.run, args=(stop,))
    runner.start()
    try:
        wait_until(lambda: len(looks) >= 2)  # within 10 s, not after the 60 s wait
    finally:
        stop.set()
        rig.engine.wake()
        runner.join(10)


def test_no_more_requests_than_concurrency_reach_the_provider(rig: Rig) -> None:
    for _ in range(AHEAD + 2):
        rig.job()
    rig.sender.gate = threading.Event()
    try:
        rig.engine.dispatch()
        # Every upload under way; only CONCURRENCY of them at the provider.
        wait_until(lambda: rig.engine.uploading() == AHEAD and rig.sender.active == CONCURRENCY)
        time.sleep(0.2)
        assert rig.sender.active == CONCURRENCY
    finally:
        rig.sender.gate.set()
    rig.settle()
    rig.settle()
    assert rig.sender.max_active == CONCURRENCY
    assert len(rig.sender.submits) == AHEAD + 2


def test_an_upload_waiting_for_a_slot_when_a_pause_comes_stays_queued(rig: Rig) -> None:
    jobs = [rig.job() for _ in range(CONCURRENCY + 1)]
    rig.sender.gate = threading.Event()
    try:
        rig.engine.dispatch()
        # CONCURRENCY at the provider, one more under way, waiting for a request slot.
        wait_until(
            lambda: rig.sender.active == CONCURRENCY and rig.engine.uploading() == CONCURRENCY + 1
        )
        [waiting] = [j for j in jobs if rig.tx(j).state == TxState.READY]
        rig.engine._pause("fake", rig.clock.time() + 120.0, "throttled")
    finally:
        rig.sender.gate.set()
    wait_until(lambda: rig.engine.in_flight() == 0)
    assert len(rig.sender.submits) == CONCURRENCY
    tx = rig.tx(waiting)
    assert (tx.state, tx.attempts) == (TxState.READY, 0)  # nothing committed, nothing sent


def test_status_queries_wait_while_every_upload_is_under_way(rig: Rig) -> None:
    sent = rig.job()
    rig.settle()  # uploaded: its status query is due after the first poll delay
    assert rig.tx(sent).state == TxState.SUBMITTED
    rig.clock.advance(5.0)  # past the first poll delay
    rig.engine._uploads["fake"] = AHEAD  # as if a burst kept every upload busy
    rig.engine.dispatch()
    assert rig.engine.in_flight() == 0  # due, but held
    rig.clock.advance(STATUS_HOLD)
    rig.engine.dispatch()
    wait_until(lambda: rig.engine.in_flight() == 0 and rig.tx(sent).state != TxState.SUBMITTED)
    rig.engine._uploads["fake"] = 0


def test_a_reload_that_raises_concurrency_sends_that_many_at_once(rig: Rig) -> None:
    raised = AHEAD + 1  # more than the old pool had threads
    rig.engine.reconfigure(replace(rig.engine._settings, concurrency=raised), {})
    for _ in range(raised * UPLOADS_PER_SLOT):
        rig.job()
    rig.sender.gate = threading.Event()
    try:
        rig.engine.dispatch()
        wait_until(lambda: rig.sender.active == raised)
        # Its pool grew too: every upload is under way, not queued inside a small pool.
        wait_until(lambda: rig.engine.uploading() == raised * UPLOADS_PER_SLOT)
    finally:
        rig.sender.gate.set()
    wait_until(lambda: rig.engine.in_flight() == 0)
    assert rig.sender.max_active == raised
