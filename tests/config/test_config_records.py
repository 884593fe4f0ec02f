"""The records' keys: records.path, retention, station_name and report_pdf."""

from __future__ import annotations

from pathlib import Path

from tests.config.cfg_helpers import MINIMAL, WriteConfig, load, only_problem


def test_records_and_retention(write_config: WriteConfig, tmp_path: Path) -> None:
    path = write_config(
        MINIMAL
        + "records:\n  path: rec\n"
        + "retention: {sent: 90d, failed: 26w, inbox: 30d, records: 6y}\n"
        + "defaults:\n  station_name: Reception\n  report_pdf: false\n"
    )
    settings = load(path)
    assert settings.records.path == path.parent / "rec"
    keep = settings.records.retention
    assert (keep.sent, keep.failed, keep.inbox) == (90 * 86400, 26 * 7 * 86400, 30 * 86400)
    assert keep.records == 6 * 365 * 86400
    (folder,) = settings.folders
    assert folder.station_name == "Reception" and folder.report_pdf is False


def test_retention_defaults_to_forever(write_config: WriteConfig) -> None:
    settings = load(write_config(MINIMAL))
    assert settings.records.path is None
    assert settings.records.retention.sent is None
    assert settings.folders[0].report_pdf is True


def test_a_bad_retention_is_named_with_its_line(write_config: WriteConfig) -> None:
    problem = only_problem(write_config(MINIMAL + "retention:\n  sent: soon\n"))
    assert problem.line == 8 and "duration" in str(problem)
    problem = only_problem(write_config(MINIMAL + "retention:\n  kept: 5d\n"))
    assert "kept" in str(problem)


def test_the_activity_csv_dialect(write_config: WriteConfig) -> None:
    assert load(write_config(MINIMAL)).records.csv == "excel"
    settings = load(write_config(MINIMAL + "records:\n  csv: Standard\n"))
    assert settings.records.csv == "standard"
    problem = only_problem(write_config(MINIMAL + "records:\n  csv: lotus\n"))
    assert problem.line == 8 and "excel | standard" in str(problem)


def test_records_inside_a_spool_folder_is_refused(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    """The daemon took its own audit log and activity journals there for documents and
    filed them in failed/, a new month's file every few seconds."""
    for written in ("out", "out/records", "linked/records"):
        (tmp_path / "out").mkdir(exist_ok=True)
        if not (tmp_path / "linked").exists():
            (tmp_path / "linked").symlink_to(tmp_path / "out")
        problem = only_problem(write_config(MINIMAL + f"records:\n  path: {written}\n"))
        assert (problem.path, problem.line) == ("records.path", 8), written
        assert "inside, spool folder folders[0]" in problem.message
        assert "audit log" in problem.message


def test_records_beside_or_around_a_spool_folder_or_in_its_archive_is_fine(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    for written in ("rec", ".", "out/sent/records"):
        settings = load(write_config(MINIMAL + f"records:\n  path: {written}\n"))
        assert settings.records.path == (tmp_path / written).resolve()
