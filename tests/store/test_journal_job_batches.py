"""Jobs that several takers create at once share one commit (Journal.create_job): each
taker still returns only once its own job is on disk, and what goes wrong with one job
stays that job's, while a disk that takes no writes fails them all."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import structlog

from faxd.store.journal import Journal, JournalWriteError, NewJob
from tests.store.test_journal import new_job
from tests.store.test_journal_group_commit import Disk

TAKERS = 6


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(tmp_path / "j.sqlite")
    journal.pragma("wal_autocheckpoint = 0")  # Disk copies the WAL as the image
    yield journal
    journal.close()


def _job(n: int) -> NewJob:
    return new_job(f"j{n}", f"/spool/doc{n}.pdf", ["+46812345678"])


def _queued(journal: Journal) -> int:
    return journal._creations.queued()


@contextmanager
def _all_waiting_together(journal: Journal, count: int) -> Iterator[None]:
    """Hold the journal's turn (as an upload does in a burst) until `count` jobs wait to
    be created; let go when the block ends."""
    with journal._turns.turn():
        yield
        deadline = time.monotonic() + 10
        while _queued(journal) < count:
            assert time.monotonic() < deadline, "the takers never queued"
            time.sleep(0.005)


def _create_in_threads(
    journal: Journal, jobs: list[NewJob], after: Callable[[str], None] | None = None
) -> dict[str, BaseException | None]:
    """create_job for each job on a thread of its own; what each raised (None: nothing).
    `after(job_id)` runs in that thread once create_job returned."""
    outcome: dict[str, BaseException | None] = {}

    def take(job: NewJob) -> None:
        try:
            journal.create_job(job)
        except BaseException as exc:  # the test looks at it
            outcome[job.id] = exc
            return
        outcome[job.id] = None
        if after is not None:
            after(job.id)

    threads = [threading.Thread(target=take, args=(job,)) for job in jobs]
    with _all_waiting_together(journal, len(jobs)):
        for thread in threads:
            thread.start()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    return outcome


def test_jobs_created_at_once_share_one_commit_and_each_returns_once_it_is_on_disk(
    journal: Journal,
) -> None:
    disk = Disk(journal)
    before = journal._durable.committed
    on_disk_at_return: dict[str, int] = {}

    def check(job_id: str) -> None:
        survived = disk.after_power_cut("SELECT COUNT(*) FROM jobs WHERE id = ?", (job_id,))
        on_disk_at_return[job_id] = int(str(survived[0][0]))

    outcome = _create_in_threads(journal, [_job(n) for n in range(TAKERS)], check)

    assert outcome == {f"j{n}": None for n in range(TAKERS)}
    assert journal._durable.committed == before + 1  # one commit for all six
    assert on_disk_at_return == {f"j{n}": 1 for n in range(TAKERS)}
    for n in range(TAKERS):
        row = journal.job(f"j{n}")
        assert row is not None and row.path == f"/spool/doc{n}.pdf"
        assert [tx.number for tx in journal.transmissions(f"j{n}")] == ["+46812345678"]


def test_a_job_that_cannot_be_recorded_fails_alone(journal: Journal) -> None:
    journal.create_job(_job(1))
    # The same document still held by an unfiled job: the unique index refuses it.
    clash = replace(_job(2), path="/spool/doc1.pdf")
    # Refused after its job row was written (a number SQLite will not take): the row
    # must go with it, not stay without transmissions.
    broken = replace(_job(5), numbers=[None])  # type: ignore[list-item]
    outcome = _create_in_threads(journal, [_job(3), clash, broken, _job(4)])

    assert isinstance(outcome["j2"], sqlite3.IntegrityError)
    assert isinstance(outcome["j5"], sqlite3.IntegrityError)
    assert outcome["j3"] is None and outcome["j4"] is None
    for failed in ("j2", "j5"):
        assert journal.job(failed) is None
        assert journal.transmissions(failed) == []
    assert journal.job("j3") is not None and journal.job("j4") is not None


def test_a_full_disk_fails_every_job_of_the_commit_in_one_sentence(journal: Journal) -> None:
    journal.pragma(f"max_page_count = {journal.pragma('page_count')}")
    big = [replace(_job(n), reference="x" * 20_000) for n in range(3)]
    with structlog.testing.capture_logs() as logs:
        outcome = _create_in_threads(journal, big)

    for job_id, error in outcome.items():
        assert isinstance(error, JournalWriteError), job_id
        assert "cannot be written" in str(error) and "free space" in str(error)
        assert journal.job(job_id) is None
    # Three threads raised it: three objects, or their tracebacks would mix.
    assert len({id(error) for error in outcome.values()}) == 3
    assert [entry["event"] for entry in logs].count("journal write failed") == 1
    journal.pragma("max_page_count = 1073741823")
    journal.create_job(_job(9))  # and the next one goes through
    assert journal.job("j9") is not None


def test_a_taker_stopped_before_its_turn_leaves_no_job_behind(journal: Journal) -> None:
    real_turn = journal._turns.turn
    calls = 0

    def interrupted_once(*, first: bool = False):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt
        return real_turn(first=first)

    journal._turns.turn = interrupted_once  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        journal.create_job(_job(1))
    journal.create_job(_job(2))  # the next taker writes its own job, not the stopped one

    assert journal.job("j1") is None
    assert journal.job("j2") is not None
    assert _queued(journal) == 0


def test_an_interrupt_while_writing_stays_with_the_writer_and_fails_the_rest(
    journal: Journal,
) -> None:
    real_insert = journal._insert_job

    def insert(db: sqlite3.Connection, job: NewJob, outbox: object) -> None:
        if job.id == "j2":
            raise KeyboardInterrupt
        real_insert(db, job, outbox)  # type: ignore[arg-type]

    journal._insert_job = insert  # type: ignore[method-assign]
    outcome = _create_in_threads(journal, [_job(n) for n in range(4)])

    kinds = sorted(type(error).__name__ for error in outcome.values())
    assert kinds == ["KeyboardInterrupt", "RuntimeError", "RuntimeError", "RuntimeError"]
    for job_id, error in outcome.items():
        if isinstance(error, RuntimeError):
            assert job_id in str(error) and isinstance(error.__cause__, KeyboardInterrupt)
        assert journal.job(job_id) is None  # the commit was rolled back whole
    journal._insert_job = real_insert  # type: ignore[method-assign]
    journal.create_job(_job(7))
    assert journal.job("j7") is not None


def test_a_caller_inside_a_turn_writes_its_job_at_once_instead_of_waiting_for_itself(
    tmp_path: Path,
) -> None:
    """A thread that holds the journal's turn and creates a job while another taker waits
    for that turn to write: waiting for the other would never end. (A journal of its own:
    after a deadlock, closing the fixture's would wait for ever.)"""
    journal = Journal(tmp_path / "own.sqlite")
    held = threading.Event()
    outcome: dict[str, BaseException | None] = {}

    def record(job_id: str) -> None:
        try:
            journal.create_job(_job(int(job_id[1:])))
            outcome[job_id] = None
        except BaseException as exc:  # the test looks at it
            outcome[job_id] = exc

    def holder() -> None:
        with journal._turns.turn():
            held.set()
            deadline = time.monotonic() + 10
            while not journal._creations.writing() and time.monotonic() < deadline:
                time.sleep(0.005)
            record("j2")  # still holding the turn the other taker waits for

    inside = threading.Thread(target=holder, daemon=True)
    waiting = threading.Thread(target=record, args=("j1",), daemon=True)
    inside.start()
    assert held.wait(10)
    waiting.start()
    inside.join(10)
    waiting.join(10)
    assert not inside.is_alive() and not waiting.is_alive(), "the two takers wait for each other"
    assert outcome == {"j1": None, "j2": None}
    assert journal.job("j1") is not None and journal.job("j2") is not None
    journal.close()
