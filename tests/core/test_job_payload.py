"""Job files and options: typed values whose JSON form is what the journal has always held."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from faxd.core.job_payload import (
    DEFAULT_STATUS_TIMEOUT,
    Hold,
    JobFile,
    JobOptions,
    NoticePlan,
    NotifyRoute,
    Source,
    files_from_json,
    files_to_json,
)
from faxd.settings import RetarusOptions

# Options exactly as the intake wrote them before they were typed (a journal from then).
WRITTEN_BEFORE = {
    "sent_dir": "/spool/sent",
    "failed_dir": "/spool/failed",
    "hold_dir": "/spool/hold",
    "max_attempts": 5,
    "give_up_after": 86400.0,
    "status_timeout": 3600.0,
    "retarus": {"coverpage_template": "cover.ftl.html", "recipient_properties": {"a": "b"}},
    "station_name": "Office",
    "report_pdf": True,
    "sources": {
        "/spool/a.pdf": {
            "dev": 1,
            "ino": 2,
            "size": 3,
            "mtime_ns": 4,
            "snapshot": "/state/work/J/snap/a.pdf",
            "sha256": "ab" * 32,
        },
        "/spool/a.pdf.yaml": {"dev": 1, "ino": 5, "size": 6, "mtime_ns": 7, "snapshot": "/s"},
    },
    "notify": [{"on": ["failed"], "to": ["mail:anna@example.com"], "attach": "document"}],
    "owner": "anna",
    "delayed_after": 600.0,
    "hold": {"numbers": ["+46812345678"], "reasons": {"+46812345678": "new number"}},
}


def test_options_written_before_load_typed_and_write_back_the_same() -> None:
    options = JobOptions.loads(json.dumps(WRITTEN_BEFORE))
    assert options.filing_dir("hold") == "/spool/hold"
    assert options.max_attempts == 5 and options.status_timeout == 3600.0
    assert options.retarus == RetarusOptions(
        coverpage_template="cover.ftl.html", recipient_properties={"a": "b"}
    )
    assert options.sources["/spool/a.pdf"].sha256 == "ab" * 32
    assert options.sources["/spool/a.pdf.yaml"].sha256 is None
    assert options.notice == NoticePlan(
        (NotifyRoute(("failed",), ("mail:anna@example.com",), "document"),), "anna", 600.0
    )
    assert options.held_numbers() == ("+46812345678",)
    assert options.to_json() == WRITTEN_BEFORE


def test_an_old_job_without_later_keys_gets_the_defaults_the_readers_used() -> None:
    options = JobOptions.loads('{"sent_dir": "/s", "failed_dir": "/f", "unknown": 1}')
    assert options.max_attempts is None and options.give_up_after is None
    assert options.status_timeout == DEFAULT_STATUS_TIMEOUT
    assert options.retarus is None and options.report_pdf is None
    assert options.sources == {} and options.notice == NoticePlan() and options.hold is None
    assert options.held_numbers() == ()


def test_a_job_without_a_filing_folder_cannot_be_filed() -> None:
    try:
        JobOptions().filing_dir("sent")
    except KeyError as exc:
        assert "sent_dir" in str(exc)
    else:
        raise AssertionError("filing_dir returned without a folder")


def test_empty_retarus_options_are_none_both_ways() -> None:
    assert JobOptions.from_json({"retarus": {}}).retarus is None
    assert JobOptions(retarus=None).to_json()["retarus"] == {}


def test_a_zero_status_timeout_is_kept() -> None:
    assert JobOptions.from_json({"status_timeout": 0}).status_timeout == 0.0


def test_files_round_trip_in_the_old_form() -> None:
    old = '[{"path": "/w/a.pdf", "name": "a.pdf", "mime": "application/pdf", "size": 15}]'
    files = files_from_json(old)
    assert files == (JobFile("/w/a.pdf", "a.pdf", "application/pdf", 15),)
    assert json.loads(files_to_json(files)) == json.loads(old)


names = st.text(min_size=1, max_size=12)


@given(
    sources=st.dictionaries(
        names,
        st.builds(
            Source,
            st.integers(0, 2**40),
            st.integers(0, 2**40),
            st.integers(0, 2**40),
            st.integers(0, 2**62),
            st.none() | names,
            st.none() | names,
        ),
        max_size=3,
    ),
    attempts=st.none() | st.integers(1, 100),
    timeout=st.floats(0, 1e7),
    report=st.none() | st.booleans(),
    numbers=st.lists(names, max_size=3),
    owner=st.none() | names,
)
def test_options_survive_the_journal(
    sources: dict[str, Source],
    attempts: int | None,
    timeout: float,
    report: bool | None,
    numbers: list[str],
    owner: str | None,
) -> None:
    options = JobOptions(
        sent_dir="/s",
        failed_dir="/f",
        max_attempts=attempts,
        status_timeout=timeout,
        report_pdf=report,
        sources=sources,
        notice=NoticePlan((NotifyRoute(("delivered",), ("hook",)),), owner, None),
        hold=Hold(tuple(numbers), dict.fromkeys(numbers)) if numbers else None,
    )
    assert JobOptions.loads(options.dumps()) == options
