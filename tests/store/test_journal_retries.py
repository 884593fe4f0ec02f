"""`faxd retry` bookkeeping: the job intake takes next from the place (and inode) a failed
document was put back is its next attempt; any other file of that name is not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from faxd.store.journal import Journal

from .test_journal import new_job

DOC = "/spool/letter.pdf"


def test_the_next_job_from_the_put_back_file_names_the_earlier_attempts(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("a", DOC, ["+46812345678"], error="no recipient"))
        journal.mark_archived("a", "/failed/letter.pdf", 150.0)
        journal.record_retry("a", DOC, 1, "result: failed\n", "a late sidecar", 200.0)
        # Another file of that name (another inode) is a new document, not the retry.
        journal.create_job(replace(new_job("stranger", DOC, ["+46812345678"]), ino=9))
        journal.mark_archived("stranger", "/sent/letter.pdf", 210.0)
        assert journal.earlier_attempts("stranger") == []
        journal.create_job(new_job("b", DOC, ["+46812345678"], error="busy"))
        journal.mark_archived("b", "/failed/letter.pdf", 250.0)
        journal.record_retry("b", DOC, 1, None, None, 300.0)
        journal.create_job(new_job("c", DOC, ["+46812345678"]))
        chain = journal.earlier_attempts("c")
        assert [(job.id, retry.retried_at) for job, retry in chain] == [("b", 300.0), ("a", 200.0)]
        first = journal.retry_of("a")
        assert first is not None
        assert (first.next_job, first.report, first.note) == (
            "b",
            "result: failed\n",
            "a late sidecar",
        )
        # `faxd history` asks for many jobs at once: only the retried ones come back.
        many = journal.retries_of(["a", "stranger", "b", "c", "nothing"])
        assert {k: v.next_job for k, v in many.items()} == {"a": "b", "b": "c"}
    finally:
        journal.close()


def test_a_retry_interrupted_before_the_move_is_recorded_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("a", DOC, ["+46812345678"], error="no recipient"))
        journal.mark_archived("a", "/failed/letter.pdf", 150.0)
        journal.record_retry("a", DOC, 1, None, None, 200.0)
        journal.record_retry("a", DOC, 1, None, None, 250.0)  # run again: no duplicate key
        journal.set_retry_path("a", "/spool/letter (2).pdf")
        journal.create_job(new_job("b", "/spool/letter (2).pdf", ["+46812345678"]))
        [(job, retry)] = journal.earlier_attempts("b")
        assert (job.id, retry.retried_at) == ("a", 250.0)
    finally:
        journal.close()
