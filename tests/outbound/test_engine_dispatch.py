"""The dispatcher asks the journal for at most as many rows as a provider has slots:
rows already in flight must not take the places of those that can start."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faxd.outbound.engine import QUERY_STATES

from .test_engine import Rig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, concurrency=2)
    yield r
    r.engine.shutdown(5)
    r.journal.close()


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
    rig.engine._uploads["fake"] = 1
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
    rig.engine._uploads["fake"] = 2
    asked: list[tuple[Any, ...]] = []
    real = rig.journal.due_transmissions

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(rig.journal, "due_transmissions", spy)
    rig.engine.dispatch()
    assert [tuple(args[0]) for args in asked] == [QUERY_STATES]  # no upload rows read
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
