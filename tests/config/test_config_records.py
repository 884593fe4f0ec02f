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
