"""The journal's named queries: callers get typed values, and the SQL and key formats stay
in the journal (an old journal's rows, written under the same keys, still answer)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from faxd.core.inbox_status import InboxStatus
from faxd.core.job_payload import JobFile, JobOptions, Source
from faxd.core.transitions import TxUpdate
from faxd.host.folder_place import KnownPlace
from faxd.model import JobState, TxState
from faxd.store.journal import Journal
from faxd.store.journal_notes import moved_aside_key
from faxd.store.journal_rows import ProviderPause, QueueCounts

from .test_journal import new_job


def test_job_files_and_options_come_back_typed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        options = JobOptions(
            sent_dir="/spool/sent",
            failed_dir="/spool/failed",
            max_attempts=3,
            sources={"/spool/a.pdf": Source(1, 2, 3, 4, "/w/a.pdf", "00")},
        )
        files = [JobFile("/w/a.pdf", "a.pdf", "application/pdf", 3)]
        journal.create_job(
            replace(new_job("J1", "/spool/a.pdf", ["+46812345678"]), files=files, options=options)
        )
        job = journal.job("J1")
        assert job is not None
        assert job.files == tuple(files) and job.options == options
    finally:
        journal.close()


def test_a_job_row_written_by_an_older_faxd_loads(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("J1", "/spool/a.pdf", ["+46812345678"]))
        with journal.transaction() as db:  # the options an early faxd wrote
            db.execute(
                "UPDATE jobs SET options = ?, files = ? WHERE id = 'J1'",
                (
                    '{"sent_dir": "/s", "failed_dir": "/f", "retarus": {}}',
                    '[{"path": "/w/a.pdf", "name": "a.pdf", "mime": "application/pdf", "size": 9}]',
                ),
            )
        job = journal.job("J1")
        assert job is not None
        assert job.options.filing_dir("failed") == "/f" and job.options.retarus is None
        assert job.files[0].size == 9
    finally:
        journal.close()


def test_pauses_round_trip_and_an_unreadable_one_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.pause_provider("docs", 100.0, "auth")
        journal.set_value("pause:old", "not a time:auth")  # as a damaged row would read
        assert journal.pause_of("docs") == ProviderPause("docs", 100.0, "auth")
        assert journal.pauses() == [ProviderPause("docs", 100.0, "auth")]
        journal.clear_pause("docs")
        assert journal.pause_of("docs") is None
    finally:
        journal.close()


def test_queue_counts_and_failures_since(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("J1", "/spool/a.pdf", ["+46812345678", "+46812345679"]))
        journal.create_job(new_job("J2", "/spool/b.pdf", [], error="no recipient"))
        assert journal.queue_counts() == QueueCounts(queued=2, in_flight=0)
        journal.apply("J1", 0, TxUpdate(state=TxState.SUBMITTING, updated_at=1.0))
        assert journal.queue_counts() == QueueCounts(queued=1, in_flight=1)
        failed = journal.job("J2")
        assert failed is not None and failed.state == JobState.FAILED
        assert journal.failed_since(50.0) == 1
        assert journal.failed_since(101.0) == 0
    finally:
        journal.close()


def test_inbox_status_and_folder_records(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        assert journal.inbox_statuses() == []
        status = InboxStatus(provider="docs", inbox="/in", received_today=2)
        journal.set_inbox_status(status)
        assert journal.inbox_statuses() == [status]
        folder = tmp_path / "spool"
        assert not journal.sidecars_seen(folder) and not journal.folder_seen(folder)
        journal.note_sidecars_seen(folder)
        journal.note_folder_seen(folder)
        assert journal.sidecars_seen(folder) and journal.folder_seen(folder)
        assert journal.folder_device(folder) is None
        journal.set_folder_device(folder, 42)
        assert journal.folder_device(folder) == 42
    finally:
        journal.close()


def test_a_folder_s_mount_root_is_kept_beside_its_device(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        folder = tmp_path / "share" / "out"
        assert journal.folder_place(folder) is None
        journal.set_value(f"folder-device:{folder}", "41")  # kept by an older faxd
        assert journal.folder_place(folder) == KnownPlace(41, None)
        journal.set_folder_device(folder, 42, tmp_path / "share")
        assert journal.folder_device(folder) == 42
        assert journal.folder_place(folder) == KnownPlace(42, tmp_path / "share")
        # The device changed by a faxd that keeps no mount roots: the one kept is stale.
        journal.set_value(f"folder-device:{folder}", "43")
        assert journal.folder_place(folder) == KnownPlace(43, None)
        journal.set_folder_device(folder, 44, tmp_path / "share")
        journal.set_folder_device(folder, 45)
        assert journal.folder_place(folder) == KnownPlace(45, None)
        journal.set_folder_device(folder, 46, tmp_path / "share")
        journal.forget_folder_device(folder)
        assert journal.folder_place(folder) is None
        journal.set_value(f"folder-device:{folder}", "46")  # nothing forgotten is left
        assert journal.folder_place(folder) == KnownPlace(46, None)
    finally:
        journal.close()


def test_unfiled_filed_and_filed_as(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.create_job(new_job("J1", "/spool/a.pdf", ["+46812345678"]))
        journal.create_job(new_job("J2", "/spool/b.pdf", [], error="no recipient"))
        assert {j.id for j in journal.unfiled_jobs(limit=10)} == {"J1", "J2"}
        assert journal.has_unfiled_job_from(Path("/spool"))
        with journal.transaction() as db:
            db.execute(
                "UPDATE jobs SET archived_at = 1, archived_path = '/spool/failed/b.pdf' "
                "WHERE id = 'J2'"
            )
        assert [j.id for j in journal.filed_jobs(limit=10)] == ["J2"]
        filed = journal.job_filed_as("/spool/failed/b.pdf")
        assert filed is not None and filed.id == "J2"
        assert journal.job_filed_as("/spool/failed/c.pdf") is None
    finally:
        journal.close()


def _job_received(journal: Journal, job_id: str, at: float, delayed_after: float | None) -> None:
    options = JobOptions(notice=replace(JobOptions().notice, delayed_after=delayed_after))
    journal.create_job(
        replace(new_job(job_id, f"/spool/{job_id}.pdf", ["+46812345678"]), options=options)
    )
    with journal.transaction() as db:
        db.execute("UPDATE jobs SET received_at = ? WHERE id = ?", (at, job_id))


def test_delay_ran_out_reads_only_jobs_past_their_own_or_the_default_delay(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        _job_received(journal, "OWN", 1000.0, 60.0)
        _job_received(journal, "NONE", 900.0, None)
        _job_received(journal, "DONE", 800.0, 60.0)
        journal.set_job_state("DONE", JobState.DELIVERED, finished_at=1001.0)

        def due(now: float, default: float | None, limit: int = 10) -> list[str]:
            return [j.id for j in journal.delay_ran_out(now, default, limit)]

        assert due(1059.0, None) == []
        assert due(1060.0, None) == ["OWN"]  # without a default, NONE never runs out
        assert due(1060.0, 200.0) == ["OWN"]
        assert due(1100.0, 200.0) == ["NONE", "OWN"]  # oldest first
        assert due(1100.0, 200.0, limit=1) == ["NONE"]
        journal.note_delay(["NONE"], 1100.0)
        assert due(5000.0, 200.0) == ["OWN"]  # noted: not read again
    finally:
        journal.close()


def test_a_journal_from_before_delay_notes_gets_the_column_and_keeps_its_jobs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    _job_received(journal, "OLD", 1000.0, 60.0)
    with journal.transaction() as db:
        db.execute("ALTER TABLE jobs DROP COLUMN delay_noted_at")
    journal.close()
    journal = Journal(path)
    try:
        assert [j.id for j in journal.delay_ran_out(1060.0, None, 10)] == ["OLD"]
        journal.note_delay(["OLD"], 1060.0)
        assert journal.delay_ran_out(1060.0, None, 10) == []
    finally:
        journal.close()


def test_moved_aside_names_keep_their_digests_and_an_older_note_still_reads(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        # Noted by a faxd that kept only the names.
        journal.set_value(moved_aside_key("J1"), '["scan (2).pdf"]')
        journal.note_moved_aside("J1", "scan (3).pdf", "ab" * 32)
        journal.note_moved_aside("J1", "scan (4).pdf", "cd" * 32)
        assert journal.moved_aside("J1") == ["scan (2).pdf", "scan (3).pdf", "scan (4).pdf"]
        assert journal.moved_aside_digests("J1") == {
            "ab" * 32: "scan (3).pdf",
            "cd" * 32: "scan (4).pdf",
        }
        journal.withdraw_moved_aside("J1", "scan (3).pdf")
        journal.withdraw_moved_aside("J1", "scan (2).pdf")
        assert journal.moved_aside("J1") == ["scan (4).pdf"]
        assert journal.moved_aside_digests("J1") == {"cd" * 32: "scan (4).pdf"}
        assert journal.moved_aside_digests("J2") == {}
    finally:
        journal.close()
