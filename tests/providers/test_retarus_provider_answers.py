"""RetarusProvider: jobs that expire before faxd gives up, a wrong job address, a DELETE
answered 400 for another reason than "not here", and PCX images converted to PDF."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from faxd.errors import EndpointError, TransientError
from faxd.model import OutgoingFile
from faxd.providers.retarus import RetarusProvider
from faxd.providers.retarus_wire import build_job, delete_not_here, job_valid_time

from .test_retarus_provider import DC1, DC2, SUBMIT, FakeRetarus, one, submission
from .test_retarus_provider import fake as fake
from .test_retarus_provider import provider as provider

# --- jobValid ---------------------------------------------------------------------------


def test_a_job_carries_its_end_with_a_zone(tmp_path: Path) -> None:
    end = datetime(2026, 11, 30, 3, 4, 5, 600000, tzinfo=timezone(timedelta(hours=1)))
    job = build_job(submission(tmp_path, valid_until=end))
    assert job["meta"]["jobValid"] == {"end": "2026-11-30T02:04:05Z"}


def test_a_job_without_an_end_sends_none(tmp_path: Path) -> None:
    assert "jobValid" not in build_job(submission(tmp_path))["meta"]


def test_job_valid_times_need_a_zone() -> None:
    with pytest.raises(ValueError):
        job_valid_time(datetime(2026, 1, 1))


def test_the_posted_job_says_when_it_expires(
    provider: RetarusProvider,
    fake: FakeRetarus,
    tmp_path: Path,
) -> None:
    fake.routes[SUBMIT] = (200, {"jobId": "FJ1"})
    end = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    provider.submit(submission(tmp_path, valid_until=end))
    posted = json.loads(fake.seen[0].body)
    assert posted["meta"]["jobValid"]["end"] == "2030-01-02T03:04:05Z"


# --- a wrong job address ----------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 405])
def test_a_missing_job_address_is_a_configuration_problem(
    provider: RetarusProvider,
    fake: FakeRetarus,
    tmp_path: Path,
    status: int,
) -> None:
    fake.routes[SUBMIT] = (status, {"code": status, "message": "NOT_FOUND"})
    with pytest.raises(EndpointError) as caught:
        provider.submit(submission(tmp_path))
    assert caught.value.status_code == status
    assert "customer_number" in str(caught.value)
    # The key that picks the data center is data_center; region is its old name.
    assert "data_center" in str(caught.value)
    assert "fix the document" not in str(caught.value)


# --- DELETE answered 400 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "not_here"),
    [
        (404, "", True),
        (404, "whatever", True),
        (400, "Status report not available", True),
        (400, "NOT_FOUND", True),
        (400, "No status report for job FJ1", True),
        (400, "Client authorization missing", False),
        (400, "JSON not processable", False),
        (400, "", False),
        (500, "not found", False),
    ],
)
def test_delete_not_here(status: int, message: str, not_here: bool) -> None:
    assert delete_not_here(status, message) is not_here


def test_a_genuine_400_on_delete_is_raised_to_be_logged_and_retried(
    provider: RetarusProvider,
    fake: FakeRetarus,
) -> None:
    fake.routes[one(DC1, "FJ1", "DELETE")] = (400, {"code": 400, "message": "bad request"})
    with pytest.raises(TransientError, match=r"HTTP 400 \(\"bad request\"\)"):
        provider.cleanup("FJ1")  # DC2: 404, not there


def test_a_400_not_available_is_still_not_here(
    provider: RetarusProvider,
    fake: FakeRetarus,
) -> None:
    fake.routes[one(DC1, "FJ1", "DELETE")] = (
        400,
        {"code": 400, "message": "Status report not available"},
    )
    provider.cleanup("FJ1")


def test_a_genuine_400_where_another_data_center_deleted_it_is_fine(
    provider: RetarusProvider,
    fake: FakeRetarus,
) -> None:
    fake.routes[one(DC1, "FJ1", "DELETE")] = (400, {"code": 400, "message": "bad request"})
    fake.routes[one(DC2, "FJ1", "DELETE")] = (200, {"jobId": "FJ1", "deleted": True})
    provider.cleanup("FJ1")


# --- PCX --------------------------------------------------------------------------------


def test_pcx_is_converted_to_pdf(
    provider: RetarusProvider,
    tmp_path: Path,
) -> None:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (10, 120, 200)).save(out, "PCX")
    path = tmp_path / "scan.pcx"
    path.write_bytes(out.getvalue())
    (prepared,) = provider.prepare(
        [OutgoingFile(path, "scan.pcx", "image/vnd.zbrush.pcx", path.stat().st_size)],
        tmp_path / "work",
    )
    assert prepared.name == "scan.pdf"
    assert len(PdfReader(prepared.path).pages) == 1
