"""Generic DOCS request builders and answer parsers, on the API page's examples and the
variants NOTES.md says to accept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxd.errors import OutcomeUnknownError
from faxd.model import Accepted, Method, OutgoingFile, Submission
from faxd.providers import docs_wire as wire
from faxd.providers.multipart import FilePart

FIXTURES = Path(__file__).parent / "fixtures" / "docs"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def submission(*, dft: bool = False, names: tuple[str, ...] = ("invoice.pdf",)) -> Submission:
    files = tuple(
        OutgoingFile(Path("/spool") / n, n, "application/pdf" if n.endswith(".pdf") else "x/y", 9)
        for n in names
    )
    return Submission(
        key="job1/0",
        job_id="job1",
        sender="+4612345678",
        recipient="+46927654321",
        files=files,
        dft=dft,
    )


# --- requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(("dft", "flag"), [(True, "true"), (False, "false")])
def test_send_fields_name_one_recipient_and_the_dft_choice(dft: bool, flag: str) -> None:
    assert wire.send_fields(submission(dft=dft)) == [
        ("senderFaxNumber", "+4612345678"),
        ("recipientFaxNumber", "+46927654321"),
        ("allowDirectFileTransfer", flag),
    ]


def test_send_files_carry_the_sniffed_type_and_chosen_name() -> None:
    parts = wire.send_files(submission(names=("a.pdf", "b.docx")))
    token = wire.upload_token("job1/0")
    assert parts == [
        FilePart("file", Path("/spool/a.pdf"), f"a_fx{token}.pdf", "application/pdf"),
        FilePart("file", Path("/spool/b.docx"), f"b_fx{token}.docx", "x/y"),
    ]


def test_json_bodies() -> None:
    assert wire.status_body("id1") == {"faxId": "id1"}
    assert wire.delete_body("id1") == {"faxId": "id1"}
    assert wire.check_dft_body("+46927654321") == {"recipientFaxNumber": "+46927654321"}


def test_range_body_is_offsetless_local_time_in_the_providers_zone() -> None:
    start = datetime(2023, 5, 1, 10, 0, 0, 999999, tzinfo=UTC)  # 12:00 in Stockholm (CEST)
    end = datetime(2023, 12, 1, 11, 0, 0, tzinfo=UTC)  # 12:00 in Stockholm (CET)
    assert wire.range_body(start, end, STOCKHOLM) == {
        "dateFrom": "2023-05-01T12:00:00",
        "dateTo": "2023-12-01T12:00:00",
    }


def test_range_body_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        wire.range_body(datetime(2023, 5, 1), datetime(2023, 5, 2, tzinfo=UTC), STOCKHOLM)


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2999, 1, 1), timezones=st.just(UTC)
    )
)
def test_format_then_parse_gives_the_same_second(moment: datetime) -> None:
    tz = ZoneInfo("Etc/GMT-3")  # a fixed offset: no ambiguous local hours
    # The form the API page shows: wall time in `tz`, no offset.
    back = wire.parse_time(moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S"), tz)
    assert back == moment.replace(microsecond=0)


# --- send answers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("send_fax.json", Accepted("a3d92fa1-9a33-4033-a4b0-4a20bd448c78", Method.FAX)),
        ("send_dft.json", Accepted("b7f5d3e9-1a2c-4d8b-9a0e-7f5c2a1e4f88", Method.DFT)),
        (
            "send_without_dft_flag.json",
            Accepted("a3d92fa1-9a33-4033-a4b0-4a20bd448c78", Method.FAX),
        ),
    ],
)
def test_parse_send(name: str, expected: Accepted) -> None:
    assert wire.parse_send(fixture(name), what="upload") == expected


def test_parse_send_reads_other_casings_and_a_string_flag() -> None:
    data = {"FaxId": 123, "DirectFileTransfer": "true"}
    assert wire.parse_send(data, what="upload") == Accepted("123", Method.DFT)


@pytest.mark.parametrize(
    "data",
    [fixture("send_without_fax_id.json"), {"faxId": ""}, {"faxId": None}, None, [], "ok"],
)
def test_a_success_without_fax_id_is_outcome_unknown(data: Any) -> None:
    with pytest.raises(OutcomeUnknownError, match=r"upload of a\.pdf"):
        wire.parse_send(data, what="upload of a.pdf")


# --- documents and statuses ----------------------------------------------------------------


def test_parse_document_from_the_page_example() -> None:
    document = wire.parse_document(fixture("status_fax.json"), STOCKHOLM)
    assert document.remote_id == "553595dd-2df7-40c4-b081-c22a5efcd1d2"
    assert document.time == datetime(2023, 5, 1, 12, 47, 33, tzinfo=UTC)
    assert document.time.utcoffset() == timedelta(hours=2)
    assert document.sender == "+46927654321"
    assert document.recipient == "+4612345678"
    assert document.status == "Received"
    assert document.type == "Fax"
    assert [(f.file_id, f.name) for f in document.files] == [
        ("207af385-93b9-4206-86f8-a225a8992fe2", "20250411_0916344612345678.pdf")
    ]


def documents(data: Any) -> list[Any]:
    """The documents of a listing, every record read (none set aside)."""
    listing = wire.parse_listing(data, STOCKHOLM)
    assert listing.unreadable == []
    return listing.documents


def test_parse_listing_reads_list_and_wrapped_pascal_case() -> None:
    (only,) = documents(fixture("retrieve_range.json"))
    assert only.type == "DirectFileTransfer"
    first, second = documents(fixture("retrieve_range_pascal_case.json"))
    assert first.time == datetime(2026, 1, 15, 7, 0, 5, 123000, tzinfo=UTC)  # CET, fraction
    assert [f.name for f in first.files] == ["a.pdf", "b.docx"]
    assert second.time == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)  # its own offset wins
    assert second.files == ()


@pytest.mark.parametrize(("data", "count"), [([], 0), ({}, 0), (fixture("status_fax.json"), 1)])
def test_parse_listing_accepts_empty_and_lone_objects(data: Any, count: int) -> None:
    assert len(documents(data)) == count


@pytest.mark.parametrize("data", ["nonsense", {"a": [], "b": []}])
def test_an_answer_that_is_no_list_of_records_raises_wire_error(data: Any) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_listing(data, STOCKHOLM)


@pytest.mark.parametrize(
    "data",
    [
        [1],
        [{"faxTime": "2023-05-01T14:47:33"}],  # no faxId
        [{"faxId": "x"}],  # no time
        [{"faxId": "x", "faxTime": "yesterday"}],
        [{"faxId": "x", "faxTime": "2023-05-01T14:47:33", "files": [{"fileName": "a"}]}],
        [{"faxId": "x", "faxTime": "2023-05-01T14:47:33", "files": "a.pdf"}],
    ],
)
def test_a_malformed_record_is_set_aside_never_taken_for_a_document(data: Any) -> None:
    listing = wire.parse_listing(data, STOCKHOLM)
    assert listing.documents == []
    assert len(listing.unreadable) == 1 and listing.unreadable[0].problem


def status_answer(word: str, type_: str = "Fax", **extra: str) -> dict[str, Any]:
    data: dict[str, Any] = fixture("status_fax.json")
    data.update(status=word, type=type_, **extra)
    return data


FAX_ID = "553595dd-2df7-40c4-b081-c22a5efcd1d2"


@pytest.mark.parametrize("word", ["Sent", "Received", "Opened", "Read", "received"])
def test_delivered_statuses(word: str) -> None:
    status = wire.parse_status(status_answer(word), FAX_ID, STOCKHOLM)
    assert (status.final, status.delivered, status.status) == (True, True, word)


def test_failed_status_is_final_with_a_reason() -> None:
    status = wire.parse_status(status_answer("Failed"), FAX_ID, STOCKHOLM)
    assert (status.final, status.delivered) == (True, False)
    assert status.reason
    detailed = wire.parse_status(status_answer("Failed", reason="Busy"), FAX_ID, STOCKHOLM)
    assert detailed.reason == "Busy"


@pytest.mark.parametrize("word", ["Sending", "Queued", ""])
def test_sending_and_unknown_words_are_not_final(word: str) -> None:
    status = wire.parse_status(status_answer(word), FAX_ID, STOCKHOLM)
    assert (status.final, status.delivered, status.status) == (False, False, word)
    assert wire.is_known_status(word) == (word == "Sending")


@pytest.mark.parametrize(
    ("type_", "method"),
    [("DirectFileTransfer", Method.DFT), ("Fax", Method.FAX), ("Carrier pigeon", None)],
)
def test_status_reports_the_method(type_: str, method: Method | None) -> None:
    assert wire.parse_status(status_answer("Sent", type_), FAX_ID, STOCKHOLM).method == method


def test_status_in_a_list_and_without_its_fax_id() -> None:
    other = status_answer("Failed")
    other["faxId"] = "someone-else"
    mine = status_answer("Read")
    assert wire.parse_status([other, mine], FAX_ID, STOCKHOLM).status == "Read"
    bare = status_answer("Sent")
    del bare["faxId"]
    assert wire.parse_status(bare, FAX_ID, STOCKHOLM).remote_id == FAX_ID
    with pytest.raises(wire.WireError):
        wire.parse_status([other, other], FAX_ID, STOCKHOLM)


def test_a_status_answer_about_another_document_is_never_taken_for_this_one() -> None:
    # A proxy or a provider bug answering with another fax's record must not file this
    # one as delivered: the only lone answer taken as this one's is one without a faxId.
    other = status_answer("Received")
    other["faxId"] = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(wire.WireError, match="11111111-2222-3333-4444-555555555555"):
        wire.parse_status(other, FAX_ID, STOCKHOLM)
    with pytest.raises(wire.WireError):
        wire.parse_status([other], FAX_ID, STOCKHOLM)


def test_a_status_answer_may_spell_the_fax_id_in_other_case() -> None:
    mine = status_answer("Sent")
    mine["faxId"] = FAX_ID.upper()
    status = wire.parse_status(mine, FAX_ID.lower(), STOCKHOLM)
    assert status.delivered
    assert status.remote_id == FAX_ID.lower()


def test_method_of_a_listed_document() -> None:
    (dft,) = documents(fixture("retrieve_range.json"))
    assert wire.method_of(dft) == Method.DFT
    assert wire.method_of(wire.parse_document(fixture("status_fax.json"), STOCKHOLM)) == Method.FAX


# --- CheckDFT ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (fixture("check_dft.json"), True),
        ({"recipientFaxNumber": "+4612", "directFileTransferSupported": False}, False),
        ({"DirectFileTransferSupported": "TRUE"}, True),
    ],
)
def test_parse_check_dft(data: Any, expected: bool) -> None:
    assert wire.parse_check_dft(data) is expected


@pytest.mark.parametrize("data", [{}, {"directFileTransferSupported": "maybe"}, [], None])
def test_parse_check_dft_refuses_answers_without_a_yes_or_no(data: Any) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_check_dft(data)


# --- Content-Disposition -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="20250411_09163446927654321.pdf"', "20250411_09163446927654321.pdf"),
        ("attachment; filename=foo.html", "foo.html"),
        ('attachment; FILENAME="upper.pdf"', "upper.pdf"),
        ('attachment; filename="\\"quoting\\" tested.html"', '"quoting" tested.html'),
        ('attachment; filename="Here\'s a semicolon;.html"', "Here's a semicolon;.html"),
        ("attachment; filename*=UTF-8''foo-%c3%a4-%e2%82%ac.html", "foo-ä-€.html"),
        (
            "attachment; filename=\"foo-ae.html\"; filename*=UTF-8''foo-%c3%a4.html",
            "foo-ä.html",
        ),
        (
            "attachment; filename*=UTF-8''foo-%c3%a4.html; filename=\"foo-ae.html\"",
            "foo-ä.html",
        ),
        ("attachment; filename*=iso-8859-1'en'%A3%20rates", "£ rates"),
        ("attachment; filename*=x-unknown''abc; filename=\"fallback.pdf\"", "fallback.pdf"),
        ("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fcron.d%2Fx", "../../etc/cron.d/x"),
        ('attachment; filename="r\xc3\xa4kning.pdf"', "räkning.pdf"),  # raw UTF-8 via Latin-1
        ("attachment", None),
        ('attachment; filename=""', None),
        ("", None),
        (None, None),
    ],
)
def test_disposition_filename(header: str | None, expected: str | None) -> None:
    # The traversal name comes back as the remote party gave it: making it safe is the
    # inbox's job, and a test there must see the hostile form.
    assert wire.disposition_filename(header) == expected


# -- the autumn fold and recipient arrays (inbox side) ------------------------------------

FOLD_ZONES = ("Europe/Stockholm", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham")


@given(
    zone=st.sampled_from(FOLD_ZONES),
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    width=st.integers(0, 4 * 3600),
    fractions=st.booleans(),
    data=st.data(),
)
def test_a_range_never_runs_backwards_and_covers_every_instant_inside(
    zone: str, start: datetime, width: int, fractions: bool, data: st.DataObject
) -> None:
    """Across the hour a clock repeats, a later instant reads earlier: dateFrom must still
    not exceed dateTo, and every instant of the window must read inside the range."""
    tz = ZoneInfo(zone)
    end = start + timedelta(seconds=width)
    body = wire.range_body(start, end, tz, fractions=fractions)
    low = datetime.fromisoformat(body["dateFrom"])
    high = datetime.fromisoformat(body["dateTo"])
    assert low <= high
    inside = start + timedelta(seconds=data.draw(st.integers(0, width)))
    wall = inside.astimezone(tz).replace(tzinfo=None, microsecond=0)
    assert low.replace(microsecond=0) <= wall <= high


def test_the_stockholm_fold_gives_an_ordered_range() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 CEST is before 02:10 CET.
    start = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    end = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET
    body = wire.range_body(start, end, STOCKHOLM)
    assert body == {"dateFrom": "2026-10-25T01:30:00", "dateTo": "2026-10-25T03:10:00"}


def test_range_body_keeps_fractions_only_when_asked() -> None:
    start = datetime(2026, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)
    end = datetime(2026, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert wire.range_body(start, end, STOCKHOLM, fractions=True) == {
        "dateFrom": "2026-05-01T12:00:00.250000",
        "dateTo": "2026-05-01T12:00:00.500000",
    }
    assert wire.range_body(start, end, STOCKHOLM)["dateTo"] == "2026-05-01T12:00:00"


@pytest.mark.parametrize(
    ("value", "first", "every"),
    [
        ("+4612345678", "+4612345678", ("+4612345678",)),
        (["+4698765432", "+4612345678"], "+4698765432", ("+4698765432", "+4612345678")),
        ([" +4612345678 ", 7, ""], "+4612345678", ("+4612345678",)),
        ([], "", ()),
        (None, "", ()),
    ],
)
def test_recipient_fax_number_is_a_string_or_an_array(
    value: Any, first: str, every: tuple[str, ...]
) -> None:
    item = {"faxId": "f1", "faxTime": "2026-05-01T12:00:00", "recipientFaxNumber": value}
    document = wire.parse_document(item, STOCKHOLM)
    assert document.recipient == first
    assert document.all_recipients() == every


# --- outcome lookups: a window for any server zone, names that come back unchanged -----------

ZONE_MARGIN = timedelta(hours=14)


@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
    ),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)),
    quarter_hours=st.integers(min_value=-56, max_value=56),  # UTC-14 .. UTC+14
)
def test_the_lookup_window_covers_the_upload_in_every_server_zone(
    start: datetime, length: timedelta, quarter_hours: int
) -> None:
    end = start + length
    body = wire.lookup_range_body(start, end, ZONE_MARGIN)
    low, high = (datetime.fromisoformat(body[k]) for k in ("dateFrom", "dateTo"))
    assert body["dateFrom"] <= body["dateTo"]  # compared as the server compares strings
    offset = timedelta(minutes=15 * quarter_hours)
    for moment in (start, end):
        # how a server in that zone writes faxTime for a document at `moment`
        wall = (moment.astimezone(UTC) + offset).replace(tzinfo=None)
        assert low <= wall.replace(microsecond=0) <= high


def test_the_lookup_window_never_runs_backwards_in_the_autumn_fold() -> None:
    stockholm = ZoneInfo("Europe/Stockholm")
    start = datetime(2026, 10, 25, 0, 50, tzinfo=UTC)  # 02:50 CEST, the first one
    end = start + timedelta(minutes=20)  # 02:10 CET: the wall clock went back
    assert start.astimezone(stockholm).time() > end.astimezone(stockholm).time()
    body = wire.lookup_range_body(start, end, ZONE_MARGIN)
    assert body == {"dateFrom": "2026-10-24T10:50:00", "dateTo": "2026-10-25T15:10:00"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("letter.pdf", "letter_fx{t}.pdf"),
        ('brev "1"\n.PDF', "brev_1_fx{t}.pdf"),
        ("Offert åt Ärlig AB.docx", "Offert_at_Arlig_AB_fx{t}.docx"),
        ("../../etc/passwd", "etc_passwd_fx{t}"),
        ("日本.pdf", "document_fx{t}.pdf"),
        ("noext", "noext_fx{t}"),
    ],
)
def test_upload_names_are_plain_ascii_and_carry_the_token(name: str, expected: str) -> None:
    token = wire.upload_token("20261130120000-abcdef12-0")
    result = wire.tokened_name(name, token)
    assert result == expected.format(t=token)
    document = parse_with_names([result])
    assert wire.name_tokens(document) == {token}


@pytest.mark.parametrize("ext", ["PDF", "Docx", "JPEG", "TIF"])
def test_upload_names_spell_the_extension_as_the_api_table_does(ext: str) -> None:
    # generic-docs-v2.txt: "Both the MIME type (sent from the client) and the file
    # extension are validated"; its extension table reads pdf, docx, jpeg, tif.
    token = wire.upload_token("job-1-0")
    assert wire.tokened_name(f"Scan 4711.{ext}", token) == f"Scan_4711_fx{token}.{ext.lower()}"


def test_tokens_differ_per_transmission_and_are_found_in_any_case() -> None:
    a, b = wire.upload_token("job-1-0"), wire.upload_token("job-1-1")
    assert a != b and len(a) == 10
    document = parse_with_names(["x.pdf", wire.tokened_name("x.pdf", a).upper()])
    assert wire.name_tokens(document) == {a}


def parse_with_names(names: list[str]) -> Any:
    return wire.parse_document(
        {
            "faxId": "f",
            "faxTime": "2026-11-30T12:00:00",
            "files": [{"fileId": str(i), "fileName": n} for i, n in enumerate(names)],
        },
        UTC,  # type: ignore[arg-type]
    )
