"""Group commit: threads share one fsync of the WAL, and nobody goes on before the
commit it made (or read) is on disk.

`Disk` stands for what a power cut would leave behind: the journal's files as they
were when the last completed fsync began (all written before an fsync is on disk after
it; what is written meanwhile may or may not be). Reading that image with SQLite is
what faxd would find after the power came back."""

from __future__ import annotations

import errno
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import pytest

from faxd.core.transitions import TxUpdate
from faxd.model import TxState
from faxd.store.journal import Journal, JournalWriteError
from tests.store.test_journal import new_job

THREADS = 8
STEPS = 10


class Disk:
    def __init__(self, journal: Journal, *, slow: float = 0.0) -> None:
        self._journal = journal
        self._real = journal._durable.sync_to_disk
        self._slow = slow
        self._lock = threading.Lock()
        self.image: tuple[bytes, bytes] | None = None
        self.syncs = 0
        journal._durable.sync_to_disk = self.sync  # type: ignore[method-assign]

    def sync(self) -> None:
        wal = self._journal.path.with_name(self._journal.path.name + "-wal")
        taken = (self._journal.path.read_bytes(), wal.read_bytes() if wal.exists() else b"")
        if self._slow:
            time.sleep(self._slow)  # a slow disk: more commits arrive during the fsync
        self._real()
        with self._lock:
            self.image = taken
            self.syncs += 1

    def after_power_cut(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            image = self.image
        if image is None:
            return []  # nothing ever synced: nothing survives
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "j.sqlite"
            path.write_bytes(image[0])
            path.with_name("j.sqlite-wal").write_bytes(image[1])
            db = sqlite3.connect(path)
            try:
                return list(db.execute(sql, params))
            finally:
                db.close()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    journal = Journal(tmp_path / "j.sqlite")
    # no checkpoint while the test copies files: the image stays the WAL plus the db file
    journal.pragma("wal_autocheckpoint = 0")
    return journal


def test_eight_threads_each_return_only_after_their_own_update_is_on_disk(
    journal: Journal,
) -> None:
    disk = Disk(journal, slow=0.002)
    problems: list[str] = []

    def worker(t: int) -> None:
        try:
            steps(t)
        except Exception as exc:  # reported by the main thread
            problems.append(f"j{t}: {exc!r}")

    def steps(t: int) -> None:
        job = f"j{t}"
        journal.create_job(new_job(job, f"/spool/{job}.pdf", ["+46812345678"]))
        if not disk.after_power_cut("SELECT 1 FROM jobs WHERE id = ?", (job,)):
            problems.append(f"{job} returned from create_job before it was on disk")
        for step in range(1, STEPS + 1):
            journal.apply(job, 0, TxUpdate(attempts=step), expect={TxState.READY})
            rows = disk.after_power_cut(
                "SELECT attempts FROM transmissions WHERE job_id = ?", (job,)
            )
            if not rows or int(str(rows[0][0])) < step:
                problems.append(f"{job} step {step} returned before it was on disk: {rows}")
        # the compare-and-set that allows an upload, the same way
        if not journal.apply(job, 0, TxUpdate(state=TxState.SUBMITTING), expect={TxState.READY}):
            problems.append(f"{job}: the compare-and-set found another state")
        rows = disk.after_power_cut("SELECT state FROM transmissions WHERE job_id = ?", (job,))
        if rows != [(TxState.SUBMITTING.value,)]:
            problems.append(f"{job} SUBMITTING returned before it was on disk: {rows}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()
    assert problems == []
    commits = THREADS * (STEPS + 2)
    # grouped: fewer fsyncs than commits (each thread still waited for its own)
    assert disk.syncs < commits, (disk.syncs, commits)


def test_a_reader_does_not_see_a_commit_before_it_is_on_disk(journal: Journal) -> None:
    real = journal._durable.sync_to_disk
    entered, release = threading.Event(), threading.Event()
    order: list[str] = []

    def held_sync() -> None:
        entered.set()
        release.wait(10)
        real()
        order.append("synced")

    journal._durable.sync_to_disk = held_sync  # type: ignore[method-assign]
    writer = threading.Thread(target=journal.set_value, args=("k", "v"))
    writer.start()
    assert entered.wait(10)  # committed, its fsync under way
    seen: list[str | None] = []

    def read() -> None:
        seen.append(journal.get_value("k"))
        order.append("read")

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(0.5)
    release.set()
    reader.join(10)
    writer.join(10)
    journal.close()
    assert seen == ["v"]
    assert order == ["synced", "read"]


def test_a_failed_fsync_fails_the_writes_it_covered_and_the_next_one_recovers(
    journal: Journal,
) -> None:
    _fail_next_sync(journal)
    try:
        with pytest.raises(JournalWriteError, match="cannot be written"):
            journal.set_value("k", "1")
        failed = (journal.write_error, journal.write_failures)
        journal.set_value("k", "2")
        assert failed[0] is not None and failed[1] == 1
        assert journal.write_error is None
        assert journal.get_value("k") == "2"
    finally:
        journal.close()


def test_a_read_that_need_not_wait_returns_during_the_fsync(journal: Journal) -> None:
    entered, release = _hold_first_sync(journal)
    writer = threading.Thread(target=journal.set_value, args=("k", "v"))
    writer.start()
    try:
        assert entered.wait(10)  # committed, its fsync held
        # The dispatcher's look and an upload's first read: each acts only after a
        # durable commit of its own, so neither waits for this fsync.
        rows = journal.query("SELECT value FROM kv WHERE key = ?", ("k",), durable=False)
        assert [r["value"] for r in rows] == ["v"]
        assert writer.is_alive()  # the writer is still waiting for the disk
    finally:
        release.set()
        writer.join(10)
        journal.close()


def test_a_claim_is_not_waited_for_and_the_next_commit_makes_it_durable(
    journal: Journal,
) -> None:
    disk = Disk(journal)
    journal.create_job(new_job("j1", "/spool/j1.pdf", ["+46812345678"]))
    journal.create_job(new_job("j2", "/spool/j2.pdf", ["+46812345678"]))
    syncs = disk.syncs
    assert journal.claim_remote_id("docs", "j1", 0, "r-1", state=TxState.SUBMITTED) is None
    assert disk.syncs == syncs  # returned without an fsync of its own
    claimed = "SELECT remote_id FROM transmissions WHERE job_id = 'j1'"
    assert disk.after_power_cut(claimed, ()) == [(None,)]
    # The next upload's SUBMITTING commit waits for the disk, and the WAL is synced in
    # order: the claim made before it is on disk with it.
    journal.apply("j2", 0, TxUpdate(state=TxState.SUBMITTING), expect={TxState.READY})
    assert disk.after_power_cut(claimed, ()) == [("r-1",)]
    journal.close()


def test_an_upload_reads_its_transmission_job_and_cached_answer_together(
    journal: Journal,
) -> None:
    journal.create_job(new_job("j1", "/spool/j1.pdf", ["+46812345678", "+46855555555"]))
    journal.store_dft("docs", "+46855555555", True, 100.0)
    view = journal.for_upload("j1", 1, "docs", 50.0)
    assert view is not None
    tx, job, cached = view
    assert (tx.job_id, tx.idx, tx.number, job.id, cached) == ("j1", 1, "+46855555555", "j1", True)
    assert journal.for_upload("j1", 1, "docs", 150.0)[2] is None  # type: ignore[index]
    assert journal.for_upload("j1", 0, "docs", 50.0)[2] is None  # type: ignore[index]
    assert journal.for_upload("j1", 1, "other", 50.0)[2] is None  # type: ignore[index]
    assert journal.for_upload("nope", 0, "docs", 50.0) is None
    job_row, txs = journal.job_and_transmissions("j1")
    assert job_row is not None and [t.idx for t in txs] == [0, 1]
    assert journal.job_and_transmissions("nope") == (None, [])
    journal.close()


def test_an_upload_slots_commit_syncs_at_once_rather_than_behind_a_slow_sync(
    journal: Journal,
) -> None:
    disk = Disk(journal)
    journal.create_job(new_job("j1", "/spool/j1.pdf", ["+46812345678"]))
    journal.create_job(new_job("j2", "/spool/j2.pdf", ["+46812345678"]))
    # The ordinary writer's group sync meets a slow disk moment.
    entered, release = _hold_first_sync(journal)
    writer = threading.Thread(target=journal.set_value, args=("k", "v"))
    writer.start()
    try:
        assert entered.wait(10)  # committed; its sync is under way and held
        done = threading.Event()

        def submitting() -> None:
            journal.apply(
                "j1", 0, TxUpdate(state=TxState.SUBMITTING), expect={TxState.READY}, first=True
            )
            done.set()

        slot = threading.Thread(target=submitting)
        slot.start()
        # It returns while the other sync is still held, and only once it is on disk:
        # the upload it allows may leave now.
        assert done.wait(5), "the slot's commit queued behind the held sync"
        assert writer.is_alive()
        state = "SELECT state FROM transmissions WHERE job_id = 'j1'"
        assert disk.after_power_cut(state, ()) == [(TxState.SUBMITTING.value,)]
        # an ordinary commit made before it is on disk with it (the WAL is synced in order)
        assert disk.after_power_cut("SELECT value FROM kv WHERE key = 'k'", ()) == [("v",)]
    finally:
        release.set()
        writer.join(10)
    assert journal.get_value("k") == "v"
    journal.close()


def test_a_failed_sync_of_an_upload_slots_commit_stops_the_upload(journal: Journal) -> None:
    journal.create_job(new_job("j1", "/spool/j1.pdf", ["+46812345678"]))
    _fail_next_sync(journal)
    try:
        with pytest.raises(JournalWriteError, match="cannot be written"):
            journal.apply(
                "j1", 0, TxUpdate(state=TxState.SUBMITTING), expect={TxState.READY}, first=True
            )
        assert journal.write_error is not None
        # a later commit that reaches the disk ends the outage
        journal.set_value("k", "2")
        assert journal.write_error is None
    finally:
        journal.close()


def _fail_next_sync(journal: Journal) -> None:
    """The next fsync of the WAL fails with EIO (a failing disk); later ones succeed."""
    real = journal._durable.sync_to_disk
    failures = [OSError(errno.EIO, "Input/output error")]

    def flaky() -> None:
        if failures:
            raise failures.pop()
        real()

    journal._durable.sync_to_disk = flaky  # type: ignore[method-assign]


def _hold_first_sync(journal: Journal) -> tuple[threading.Event, threading.Event]:
    """The next fsync of the WAL waits (`entered` is set) until `release`; later ones
    go through at once."""
    real = journal._durable.sync_to_disk
    entered, release = threading.Event(), threading.Event()
    calls = 0

    def first_held() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            entered.set()
            release.wait(10)
        real()

    journal._durable.sync_to_disk = first_held  # type: ignore[method-assign]
    return entered, release
