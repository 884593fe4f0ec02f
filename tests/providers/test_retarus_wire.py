"""Retarus request builders and response parsers, on the reference's JSON examples."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxd.model import OutgoingFile, Submission
from faxd.providers.retarus_wire import (
    WireError,
    build_job,
    detect_charset,
    parse_delete_report,
    parse_job_response,
    parse_reports,
    report_status,
    report_url,
    reports_url,
    safe_document_name,
    submit_url,
    unique_document_names,
    wants_swagger_fields,
)
from faxd.settings import RetarusOptions

FIXTURES = Path(__file__).parent / "fixtures" / "retarus"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def submission(**overrides: Any) -> Submission:
    values: dict[str, Any] = {
        "key": "job-7#0",
        "job_id": "job-7",
        "sender": "+4612345678",
        "recipient": "+498912345678",
        "files": (OutgoingFile(Path("/spool/a.pdf"), "a.pdf", "application/pdf", 10),),
        "dft": False,
    }
    values.update(overrides)
    return Submission(**values)


# --- names -----------------------------------------------------------------------------


def test_name_example_from_the_brief() -> None:
    name = "Rechnung Nr. 4711 für Müller GmbH & Co KG.pdf"
    assert safe_document_name(name) == "Rechnung_Nr._4711_fur_Muller.pdf"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Straße.PDF", "Strasse.pdf"),
        ("scan.tiff", "scan.tif"),
        ("page.htm", "page.html"),
        ("   .pdf", "document.pdf"),
        (".pdf", "document.pdf"),
        ("no extension", "no_extension"),
        ("Ångström  øre.txt", "Angstrom_ore.txt"),
        ("日本語.pdf", "document.pdf"),
    ],
)
def test_names_are_transliterated_and_canonical(name: str, expected: str) -> None:
    assert safe_document_name(name) == expected


def test_clashing_names_get_a_counter_within_the_limit() -> None:
    names = unique_document_names(
        ["Invoice for Müller.pdf", "Invoice for Muller.pdf"] + ["x" * 40 + ".pdf"] * 2
    )
    assert names[0] == "Invoice_for_Muller.pdf"
    assert names[1] == "Invoice_for_Muller_2.pdf"
    assert names[2] == "x" * 28 + ".pdf"
    assert names[3] == "x" * 26 + "_2.pdf"


def test_names_clash_case_insensitively() -> None:
    assert unique_document_names(["A.pdf", "a.pdf"]) == ["A.pdf", "a_2.pdf"]


_EXTENSIONS = ["pdf", "tif", "txt", "html", "PDF", "Txt"]


@given(
    st.lists(
        st.tuples(st.text(max_size=60), st.sampled_from(_EXTENSIONS)),
        min_size=1,
        max_size=8,
    )
)
def test_names_are_always_safe_short_unique_and_keep_the_extension(
    parts: list[tuple[str, str]],
) -> None:
    originals = [f"{stem}.{ext}" for stem, ext in parts]
    names = unique_document_names(originals)
    assert len(names) == len(originals)
    assert len({n.lower() for n in names}) == len(names)
    for name, (_stem, ext) in zip(names, parts, strict=True):
        assert len(name) <= 32
        assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
        assert name.endswith("." + ext.lower())
        # Applying it again to its own result changes nothing.
        assert safe_document_name(name) == name


# --- charsets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"plain ascii\r\n", "UTF-8"),
        ("Grüße aus Köln".encode(), "UTF-8"),
        (b"\xef\xbb\xbfwith BOM", "UTF-8"),
        ("Grüße aus Köln".encode("utf-16"), "UTF-16"),
        ("Grüße €5 „quoted“".encode("cp1252"), "Windows-1252"),
        ("Grüße aus Köln".encode("latin-1"), "ISO-8859-1"),
    ],
)
def test_detect_charset(data: bytes, expected: str) -> None:
    assert detect_charset([data]) == expected


def test_detect_charset_across_chunk_boundaries() -> None:
    text = ("ü" * 10).encode()
    # A two-byte character split between chunks is still valid UTF-8.
    chunks = [text[:3], text[3:]]
    assert detect_charset(chunks) == "UTF-8"
    # A file ending in the middle of a character is not.
    assert detect_charset([text[:-1]]) == "ISO-8859-1"


# --- URLs ------------------------------------------------------------------------------


def test_urls() -> None:
    ha = "https://faxws-ha.de.retarus.com/rest/v1/"
    dc = "https://faxws.de1.retarus.com/rest/v1"
    assert submit_url(ha, "999901") == "https://faxws-ha.de.retarus.com/rest/v1/999901/fax"
    assert reports_url(dc, "999901") == f"{dc}/999901/fax/reports"
    assert report_url(dc, "999901", "FJ/1") == f"{dc}/999901/fax/reports/FJ%2F1"


# --- the job ---------------------------------------------------------------------------


def test_minimal_job() -> None:
    job = build_job(submission())
    assert job == {
        "reference": {"customerDefinedId": "job-7#0"},
        "recipients": [{"number": "+498912345678"}],
        "transportOptions": {"csid": "+4612345678"},
        "meta": {"customerReference": "job-7"},
    }


def test_job_with_every_option() -> None:
    options = RetarusOptions(
        coverpage_template="coverpage-default.ftl.html",
        recipient_properties={"ToName": "Max", "SubjectTitle": "Invoice"},
        resolution="HIGH",
        express=True,
        blacklist=False,
        header="%tz=CET Fax %C",
    )
    job = build_job(submission(reference="Invoice 4711", retarus=options))
    assert job["recipients"] == [
        {
            "number": "+498912345678",
            "properties": [
                {"key": "ToName", "value": "Max"},
                {"key": "SubjectTitle", "value": "Invoice"},
            ],
        }
    ]
    assert job["transportOptions"] == {
        "csid": "+4612345678",
        "isExpress": True,
        "isBlacklistEnabled": False,
    }
    assert job["renderingOptions"] == {
        "paperFormat": "A4",
        "resolution": "HIGH",
        "coverpageTemplate": "coverpage-default.ftl.html",
        "header": "%tz=CET Fax %C",
    }
    assert job["meta"] == {"customerReference": "Invoice 4711"}


def test_letter_paper_alone_sends_rendering_options() -> None:
    job = build_job(submission(retarus=RetarusOptions(paper_format="LETTER")))
    assert job["renderingOptions"] == {"paperFormat": "LETTER"}


def test_the_swagger_files_required_fields_when_asked_for() -> None:
    # retarus-cloudFaxRestAPI.swagger2.json requires renderingOptions (with paperFormat)
    # and statusReportOptions (with reportPurgeTs, "format" : "date-time").
    purge = datetime(2026, 12, 31, 23, 59, 59, tzinfo=ZoneInfo("Europe/Berlin"))
    job = build_job(submission(), purge_after=purge)
    assert job["renderingOptions"] == {"paperFormat": "A4"}
    assert job["statusReportOptions"] == {"reportPurgeTs": "2026-12-31T22:59:59Z"}
    letter = build_job(submission(retarus=RetarusOptions(paper_format="LETTER")), purge_after=purge)
    assert letter["renderingOptions"] == {"paperFormat": "LETTER"}
    assert "statusReportOptions" not in build_job(submission())


@pytest.mark.parametrize(
    ("message", "asks"),
    [
        ("Validation of job request failed: 'renderingOptions may not be null'", True),
        ("statusReportOptions.reportPurgeTs: must not be null", True),
        ("Validation of job request failed: 'No number available for rcpt FNLAJR3B'", False),
        ("Job Expiration", False),
    ],
)
def test_which_refusals_ask_for_the_swagger_fields(message: str, asks: bool) -> None:
    assert wants_swagger_fields(message) is asks


def test_csid_is_cut_to_twenty_characters() -> None:
    job = build_job(submission(sender="+1234567890123456789012"))
    assert job["transportOptions"]["csid"] == "+1234567890123456789"


# --- responses -------------------------------------------------------------------------


def test_job_response() -> None:
    assert parse_job_response(fixture("job_response.json")) == "FJLI3102O5BEPYOTB5LPC9"
    with pytest.raises(WireError):
        parse_job_response({"code": 200})
    with pytest.raises(WireError):
        parse_job_response(["FJ"])


def test_report_ok_from_the_reference() -> None:
    [entry] = parse_reports(fixture("reports_all.json"))
    assert entry.job_id == "FJJ5Y09UM505ZZBIELCRYC"
    assert entry.customer_defined_id == "2017-08-04T15:09:10Z_customerDefinedId"
    assert entry.status.final and entry.status.delivered
    assert entry.status.status == "OK"


def test_report_pending_is_not_final() -> None:
    status = report_status(fixture("report_pending.json"))
    assert (status.status, status.final, status.delivered) == ("PENDING", False, False)


@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [
        ("report_rem_dis.json", "REM_DIS", "simulated"),
        ("report_busy.json", "BUSY", "Line busy after 10 retries"),
    ],
)
def test_failed_reports_keep_status_and_reason(name: str, status: str, reason: str) -> None:
    result = report_status(fixture(name))
    assert result.final and not result.delivered
    assert (result.status, result.reason) == (status, reason)


def test_report_over_several_recipients() -> None:
    def rcpt(status: str) -> dict[str, Any]:
        return {"number": "+1", "status": status, "reason": status.lower(), "durationInSecs": 0}

    def report(*statuses: str) -> dict[str, Any]:
        return {"jobId": "FJ1", "recipientStatus": [rcpt(s) for s in statuses]}

    assert not report_status(report("OK", "PENDING")).final
    failed = report_status(report("OK", "NOFAX", "BUSY"))
    assert (failed.final, failed.delivered, failed.status) == (True, False, "NOFAX")
    assert report_status(report("OK", "OK")).delivered
    # Recipients not listed yet: still being set up.
    assert not report_status({"jobId": "FJ1", "recipientStatus": []}).final


def test_report_lists_in_either_shape() -> None:
    report = fixture("report_busy.json")
    assert [e.job_id for e in parse_reports([report])] == ["FJHAL0RNBW0AZ82ZX5FCET"]
    assert parse_reports({"reports": []}) == []
    with pytest.raises(WireError):
        parse_reports({"reports": "nope"})
    with pytest.raises(WireError):
        report_status({"recipientStatus": []})


def test_delete_reports() -> None:
    assert parse_delete_report(fixture("delete_one.json")).deleted
    items = fixture("delete_all.json")["reports"]
    results = [parse_delete_report(item) for item in items]
    assert [r.deleted for r in results] == [True, False, False]
    assert [r.reason for r in results] == [None, "NOT_FOUND", "INTERNAL_ERROR"]
