"""Turns at the journal: a caller holding an upload slot goes before the queue, nested
calls in one thread keep their turn, and nobody is left waiting."""

from __future__ import annotations

import _thread
import signal
import threading
import time

import pytest

from faxd.store.turns import Turns

QUEUED = 8


def test_a_caller_asking_to_go_first_passes_every_queued_caller() -> None:
    turns = Turns()
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with turns.turn():
            holding.set()
            release.wait(10)

    def caller(name: str, *, first: bool) -> None:
        with turns.turn(first=first):
            order.append(name)

    threading.Thread(target=holder).start()
    assert holding.wait(10)
    queued = [
        threading.Thread(target=caller, args=(f"ordinary {i}",), kwargs={"first": False})
        for i in range(QUEUED)
    ]
    for thread in queued:
        thread.start()
    time.sleep(0.2)  # they are queued behind the holder by now
    urgent = threading.Thread(target=caller, args=("urgent",), kwargs={"first": True})
    urgent.start()
    _until_one_waits_to_go_first(turns)
    release.set()
    for thread in [*queued, urgent]:
        thread.join(10)
    assert sorted(order) == sorted([*(f"ordinary {i}" for i in range(QUEUED)), "urgent"])
    assert order[0] == "urgent", order


def test_a_thread_keeps_its_turn_through_nested_calls_of_either_kind() -> None:
    turns = Turns()
    done = threading.Event()

    def nested() -> None:
        with turns.turn(), turns.turn(first=True), turns.turn():
            pass
        with turns.turn(first=True), turns.turn():
            pass
        done.set()

    thread = threading.Thread(target=nested)
    thread.start()
    thread.join(5)
    assert done.is_set(), "a nested turn waited for the thread's own"
    assert _another_thread_gets_a_turn(turns)


def test_an_error_inside_a_turn_gives_it_back() -> None:
    turns = Turns()
    try:
        with turns.turn():
            raise RuntimeError("inside")
    except RuntimeError:
        pass
    assert _another_thread_gets_a_turn(turns)


def test_many_threads_of_both_kinds_all_get_their_turn_one_at_a_time() -> None:
    turns = Turns()
    inside = 0
    most = 0
    count = 0
    guard = threading.Lock()

    def work(first: bool) -> None:
        nonlocal inside, most, count
        for _ in range(200):
            with turns.turn(first=first):
                with guard:
                    inside += 1
                    most = max(most, inside)
                    count += 1
                with turns.turn():  # nested: its own turn, no second entry
                    pass
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work, args=(i % 3 == 0,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert count == 12 * 200
    assert most == 1


def _another_thread_gets_a_turn(turns: Turns) -> bool:
    got = threading.Event()

    def take() -> None:
        with turns.turn():
            got.set()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(5)
    return got.is_set()


def test_callers_held_back_by_an_interrupted_first_caller_still_get_their_turns() -> None:
    # The caller going first is the main thread, and Ctrl-C interrupts its wait: the
    # ordinary callers it held back are not left waiting for it.
    turns = Turns()
    holding, release = threading.Event(), threading.Event()
    done: list[int] = []

    def holder() -> None:
        with turns.turn():
            holding.set()
            release.wait(10)

    def followers_then_ctrl_c() -> None:
        _until_one_waits_to_go_first(turns)  # the main thread
        for i in range(3):
            threading.Thread(target=_append_in_turn, args=(turns, done, i), daemon=True).start()
        time.sleep(0.2)
        _thread.interrupt_main()
        time.sleep(0.2)
        release.set()

    threading.Thread(target=holder, daemon=True).start()
    assert holding.wait(10)
    # A test run started in the background ignores SIGINT, and Python then would too.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=followers_then_ctrl_c, daemon=True).start()
        with pytest.raises(KeyboardInterrupt), turns.turn(first=True):
            pytest.fail("it got the turn while the holder held it")
    finally:
        signal.signal(signal.SIGINT, before)
    deadline = time.monotonic() + 10
    while len(done) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(done) == [0, 1, 2]


def _append_in_turn(turns: Turns, done: list[int], i: int) -> None:
    with turns.turn():
        done.append(i)


def _until_one_waits_to_go_first(turns: Turns) -> None:
    deadline = time.monotonic() + 10
    while turns._waiting_first != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
