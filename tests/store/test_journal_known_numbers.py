"""The journal's answers for the misdial guard: numbers delivered to (by index), numbers
released by an admin, and release records that survive a crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faxd.core.job_payload import Hold, JobOptions
from faxd.core.transitions import TxUpdate
from faxd.model import JobState, TxState
from faxd.store.journal import Journal, NewJob


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def job(job_id: str, numbers: tuple[str, ...], *, hold: bool = False) -> NewJob:
    return NewJob(
        id=job_id,
        folder="/spool",
        rel_path=f"{job_id}.pdf",
        path=f"/spool/{job_id}.pdf",
        sidecar=None,
        attachments=(),
        files=(),
        provider="docs",
        sender="+4612345678",
        dft=False,
        reference=None,
        rule="subfolder",
        options=JobOptions(hold=Hold(tuple(numbers))) if hold else JobOptions(),
        ino=None,
        received_at=1.0,
        numbers=() if hold else numbers,
        error="held" if hold else None,
        hold=hold,
    )


def deliver(journal: Journal, job_id: str, idx: int) -> None:
    for state in (TxState.SUBMITTING, TxState.SUBMITTED, TxState.DELIVERED):
        journal.apply(job_id, idx, TxUpdate(state=state))


def test_only_delivered_and_released_numbers_are_known(journal: Journal) -> None:
    journal.create_job(job("a", ("+46812345678", "+46812345611", "+46812345622")))
    deliver(journal, "a", 0)
    journal.apply("a", 1, TxUpdate(state=TxState.FAILED))
    asked = ["+46812345678", "+46812345611", "+46812345622", "+46855512345"]
    assert journal.known_among(asked) == {"+46812345678"}
    journal.start_release("r", ["+46855512345"], [], 2.0)
    assert journal.known_among(asked) == {"+46812345678", "+46855512345"}


def test_a_long_list_is_asked_in_chunks(journal: Journal) -> None:
    journal.create_job(job("a", ("+46812345678",)))
    deliver(journal, "a", 0)
    asked = [f"+468{i:08d}" for i in range(2500)] + ["+46812345678"]
    assert journal.known_among(asked) == {"+46812345678"}


def test_the_lookup_is_an_index_probe_not_a_scan(journal: Journal) -> None:
    plan = " ".join(
        str(row["detail"])
        for row in journal.query(
            "EXPLAIN QUERY PLAN SELECT number FROM transmissions "
            "WHERE state = 'delivered' AND number IN (?, ?)",
            ("+46812345678", "+46812345611"),
        )
    )
    assert "tx_number_state" in plan


def test_a_held_job_has_no_transmissions_and_is_listed_until_released(journal: Journal) -> None:
    journal.create_job(job("h", ("+46812345679",), hold=True))
    stored = journal.job("h")
    assert stored is not None and stored.state == JobState.HELD
    assert journal.transmissions("h") == []
    assert [j.id for j in journal.unarchived_final_jobs()] == ["h"]
    journal.mark_archived("h", "/hold/h.pdf", 2.0)
    assert [j.id for j in journal.held_jobs()] == ["h"]
    plan = [("/hold/h.pdf", "/spool/h.pdf")]
    journal.start_release("h", ["+46812345679"], plan, 3.0)
    assert journal.release_of("h") == (plan, None)
    assert journal.held_jobs() == []
    journal.finish_release("h", 4.0)
    assert journal.release_of("h") == (plan, 4.0)
    assert journal.known_among(["+46812345679"]) == {"+46812345679"}


def test_a_read_only_journal_without_the_table_finds_it_once_it_is_made(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    writer = Journal(path)
    writer.create_job(job("a", ("+46812345678",)))
    deliver(writer, "a", 0)
    with writer.transaction() as db:  # as an older faxd left it
        db.execute("DROP TABLE known_numbers")
    reader = Journal(path, readonly=True)
    try:
        assert reader.known_among(["+46812345678", "+46855512345"]) == {"+46812345678"}
        writer.close()
        writer = Journal(path)  # a newer faxd starts: the table is made
        writer.start_release("r", ["+46855512345"], [], 2.0)
        assert reader.known_among(["+46812345678", "+46855512345"]) == {
            "+46812345678",
            "+46855512345",
        }
    finally:
        reader.close()
        writer.close()


def test_the_table_check_is_not_repeated_for_every_document(journal: Journal) -> None:
    asked: list[str] = []
    journal._db.set_trace_callback(asked.append)
    for _ in range(5):
        journal.known_among(["+46812345678"])
    journal._db.set_trace_callback(None)
    assert sum("sqlite_master" in sql for sql in asked) == 1
