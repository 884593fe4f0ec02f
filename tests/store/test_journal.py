"""The journal's durability settings and its bookkeeping."""

from __future__ import annotations

from pathlib import Path

from faxd.core.job_payload import JobOptions
from faxd.core.transitions import TxUpdate
from faxd.model import TxState
from faxd.store.journal import Journal, NewJob


def new_job(job_id: str, path: str, numbers: list[str], error: str | None = None) -> NewJob:
    return NewJob(
        id=job_id,
        folder="/spool",
        rel_path=Path(path).name,
        path=path,
        sidecar=path + ".yaml",
        attachments=["/spool/terms.pdf"],
        files=[],
        provider="docs",
        sender="+4612345678",
        dft=True,
        reference=None,
        rule="sidecar",
        options=JobOptions(),
        ino=1,
        received_at=100.0,
        numbers=numbers,
        error=error,
    )


def test_wal_with_commits_synced_by_the_journal_itself(tmp_path: Path) -> None:
    # NORMAL: COMMIT does not fsync; the journal does, grouped, before any caller goes
    # on (tests/store/test_journal_group_commit.py shows each commit is on disk first).
    journal = Journal(tmp_path / "j.sqlite")
    try:
        assert journal.pragma("journal_mode") == "wal"
        assert journal.pragma("synchronous") == 1
        assert journal.pragma("integrity_check") == "ok"
    finally:
        journal.close()


def test_a_job_holds_its_document_sidecar_and_attachments_until_archived(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("a", "/spool/a.pdf", ["+46812345678", "+46812345611"]))
        assert journal.active_paths() == {"/spool/a.pdf", "/spool/a.pdf.yaml", "/spool/terms.pdf"}
        txs = journal.transmissions("a")
        assert [t.state for t in txs] == [TxState.READY, TxState.READY]
        assert [t.key for t in txs] == ["a-0", "a-1"]
        journal.mark_archived("a", "/sent/a.pdf", 200.0)
        assert journal.active_paths() == set()
    finally:
        journal.close()


def test_due_work_comes_in_time_order_and_interrupted_uploads_become_unknown(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("a", "/spool/a.pdf", ["+46812345678"]))
        journal.create_job(new_job("b", "/spool/b.pdf", ["+46812345678"]))
        journal.apply("a", 0, TxUpdate(state=TxState.WAITING, next_attempt_at=500.0))
        journal.apply("b", 0, TxUpdate(state=TxState.SUBMITTING))
        due = journal.due_transmissions([TxState.READY, TxState.WAITING], now=400.0)
        assert due == []
        assert journal.next_due_time([TxState.WAITING]) == 500.0
        assert journal.due_transmissions([TxState.WAITING], now=500.0) == [("a", 0, "docs")]
        assert journal.reset_interrupted(now=600.0) == 1
        b = journal.transmission("b", 0)
        assert b is not None and b.state == TxState.OUTCOME_UNKNOWN
    finally:
        journal.close()


def test_due_work_of_one_job_leaves_the_others_out(tmp_path: Path) -> None:
    # `faxd send` sending by itself works its own job only: one due long before it (a
    # stopped daemon's) is neither handed out nor sets the dispatcher's next look.
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("a", "/spool/a.pdf", ["+46812345678"]))
        journal.create_job(new_job("b", "/spool/b.pdf", ["+46812345678"]))
        journal.apply("b", 0, TxUpdate(state=TxState.WAITING, next_attempt_at=500.0))
        states = [TxState.READY, TxState.WAITING]
        assert journal.due_transmissions(states, now=400.0, job_id="b") == []
        assert journal.due_transmissions(states, now=400.0) == [("a", 0, "docs")]
        assert journal.next_due_time(states, job_id="b") == 500.0
        assert journal.due_transmissions(states, now=500.0, job_id="b") == [("b", 0, "docs")]
        assert journal.next_due_time(states, job_id="c") is None
    finally:
        journal.close()


def test_a_job_refused_at_intake_is_final_at_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("c", "/spool/c.pdf", [], error="no recipient"))
        [job] = journal.unarchived_final_jobs()
        assert job.error == "no recipient"
        assert job.finished_at == 100.0
    finally:
        journal.close()


def test_paths_with_bytes_that_are_not_utf8_round_trip(tmp_path: Path) -> None:
    from faxd.store.journal_rows import decode_path, encode_path

    odd = "/spool/bad-\udcff\udcfe.pdf"
    assert decode_path(encode_path(odd)) == odd
    assert encode_path("/spool/plain ü.pdf") == "/spool/plain ü.pdf"
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("d", odd, ["+46812345678"]))
        assert odd in journal.active_paths()
        job = journal.job("d")
        assert job is not None and job.path == odd
    finally:
        journal.close()


def test_a_reader_opens_the_journal_whatever_its_folder_is_called(tmp_path: Path) -> None:
    # "#" began a URI's fragment and "%41" read as "A": the read-only commands opened
    # another file (an empty journal) or none at all.
    from faxd.store.journal import open_journal_file

    for n, name in enumerate(("fax #2", "50%41", "what?", "caf\udce9")):
        path = tmp_path / name / "journal.sqlite"
        writer = Journal(path)
        writer.set_value("folder", str(n))
        writer.close()
        reader = open_journal_file(path, readonly=True)
        try:
            assert reader.get_value("folder") == str(n), name
        finally:
            reader.close()
