from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxd.core.names import (
    NAME_MAX,
    first_free,
    fits_name_max,
    inbox_name,
    is_ignored_name,
    name_bytes,
    numbered,
    report_name,
    safe_component,
    sender_digits,
    split_extension,
    temp_name,
)
from faxd.errors import FaxdError


@pytest.mark.parametrize(
    ("name", "n", "expected"),
    [
        ("a.pdf", 1, "a.pdf"),
        ("a.pdf", 2, "a (2).pdf"),
        ("a.pdf", 13, "a (13).pdf"),
        ("a.tar.gz", 2, "a.tar (2).gz"),
        ("README", 3, "README (3)"),
        (".bashrc", 2, ".bashrc (2)"),
        ("trailing.", 2, "trailing. (2)"),
        ("invoice.pdf.report.yaml", 2, "invoice.pdf.report (2).yaml"),
    ],
)
def test_numbered(name: str, n: int, expected: str) -> None:
    assert numbered(name, n) == expected


def test_numbered_refuses_zero() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        numbered("a.pdf", 0)


def test_split_extension() -> None:
    assert split_extension("a.b.c") == ("a.b", ".c")
    assert split_extension("noext") == ("noext", "")
    assert split_extension(".hidden") == (".hidden", "")


def test_first_free_skips_taken_names() -> None:
    taken = {"a.pdf", "a (2).pdf", "a (3).pdf"}
    assert first_free("a.pdf", taken.__contains__) == "a (4).pdf"
    assert first_free("b.pdf", taken.__contains__) == "b.pdf"


def test_first_free_gives_up_with_a_clear_error() -> None:
    with pytest.raises(FaxdError, match=r"a\.pdf: no free name"):
        first_free("a.pdf", lambda _name: True)


@given(st.text(min_size=1, max_size=30), st.sets(st.integers(min_value=1, max_value=40)))
def test_first_free_never_returns_a_taken_name(name: str, taken_numbers: set[int]) -> None:
    taken = {numbered(name, n) for n in taken_numbers}
    result = first_free(name, taken.__contains__)
    assert result not in taken
    # The lowest free number wins, so names stay short.
    expected = min(n for n in range(1, 42) if n not in taken_numbers)
    assert result == numbered(name, expected)


def test_report_name() -> None:
    assert report_name("invoice-4711.pdf") == "invoice-4711.pdf.report.yaml"


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("invoice.pdf", "invoice.pdf"),
        ("../../etc/cron.d/x", "x"),
        ("/abs/path/file.pdf", "file.pdf"),
        ("C:\\Users\\bob\\scan.pdf", "scan.pdf"),
        ("a\0b\x07c.pdf", "a b c.pdf"),
        ("line\nbreak.pdf", "line break.pdf"),
        ("  many    spaces  .pdf", "many spaces .pdf"),
        ("...hidden.pdf", "hidden.pdf"),
        ("-rf.pdf", "rf.pdf"),
        ("..", "document"),
        (".", "document"),
        ("", "document"),
        ("///", "document"),
        (b"caf\xc3\xa9.pdf", "café.pdf"),
        (b"bad\xff\xfe.pdf", "bad__.pdf"),
        ("what?.pdf", "what_.pdf"),
        ("evil\u202efdp.exe", "evilfdp.exe"),
        ("trailing dots...", "trailing dots"),
    ],
)
def test_safe_component_examples(original: str | bytes, expected: str) -> None:
    assert safe_component(original) == expected


def test_safe_component_cuts_long_names_keeping_the_extension() -> None:
    result = safe_component("x" * 10_000 + ".pdf")
    assert result == "x" * 116 + ".pdf"
    assert len(result) == 120


def test_safe_component_limits_utf8_bytes() -> None:
    # 120 four-byte characters would be 480 bytes, over the file system's NAME_MAX.
    result = safe_component("😀" * 120 + ".pdf")
    assert result.endswith(".pdf")
    assert len(result.encode()) <= 200


def test_safe_component_does_not_keep_an_absurd_extension() -> None:
    result = safe_component("a." + "b" * 300, max_len=50)
    assert result == "a." + "b" * 48


_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")


@given(st.one_of(st.text(max_size=400), st.binary(max_size=400)), st.integers(5, 200))
def test_safe_component_properties(original: str | bytes, max_len: int) -> None:
    result = safe_component(original, max_len)
    assert result
    assert result not in (".", "..")
    assert not _FORBIDDEN.search(result)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in result)
    assert not result.startswith((".", "-", " "))
    assert len(result) <= max_len
    assert len(result.encode("utf-8")) <= 200
    assert safe_component(result, max_len) == result


def test_inbox_name_uses_the_time_zone_of_the_timestamp() -> None:
    stockholm = timezone(timedelta(hours=1))
    received = datetime(2026, 11, 22, 10, 15, 2, tzinfo=stockholm)
    assert (
        inbox_name(received, "+46 8-123 456 78", "../Faktura 4711.pdf")
        == "20261122-101502_46812345678_Faktura 4711.pdf"
    )
    assert inbox_name(received.astimezone(UTC), "+46812345678", "a.pdf").startswith(
        "20261122-091502_"
    )


def test_inbox_name_without_sender_digits() -> None:
    received = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert inbox_name(received, "anonymous", b"") == "20260102-030405_unknown_document"


def test_sender_digits_are_capped() -> None:
    assert sender_digits("1" * 50) == "1" * 20


_INBOX = re.compile(r"\d{8}-\d{6}_(\d{1,20}|unknown)_[^/\\\x00]+")


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.text(max_size=40),
    st.one_of(st.text(max_size=300), st.binary(max_size=300)),
)
def test_inbox_name_shape(received: datetime, sender: str, original: str | bytes) -> None:
    name = inbox_name(received, sender, original)
    assert _INBOX.fullmatch(name)
    r = received
    assert name.startswith(f"{r.year:04d}{r.month:02d}{r.day:02d}-{r:%H%M%S}_")
    assert len(name.encode("utf-8")) < 255


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.pdf",
        "~tempfile.pdf",
        "Thumbs.db",
        "THUMBS.DB",
        "desktop.ini",
        "Desktop.INI",
        "scan.tmp",
        "scan.TMP",
        "download.part",
        "video.crdownload",
        ".notes.swp",
        "notes.txt~",
        "invoice.pdf.yaml",
        "invoice.pdf.yml",
        "invoice.pdf.report.yaml",
        # A filed report PDF moved back into a spool folder with its document.
        "invoice.pdf.report.pdf",
        "scan (2).TIF.report.pdf",
        "job.ps.report.pdf",
        ".DS_Store",
        "._x.pdf",
        "~$x.docx",
        ".~lock.x#",
        "upload.pdf.filepart",
        "",
    ],
)
def test_ignored_names(name: str) -> None:
    assert is_ignored_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "invoice.pdf",
        "Faktura 4711.PDF",
        "a~b.pdf",
        "temp.pdf",
        "yaml.pdf",
        "-x.pdf",
        "README",
        "annual.report.pdf",
        "q3.2026.report.pdf",
    ],
)
def test_documents_are_not_ignored(name: str) -> None:
    assert not is_ignored_name(name)


# --- names at NAME_MAX (a document name the file system allows must never overflow) ---


@given(
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="/\x00"),
        min_size=1,
        max_size=255,
    ).filter(lambda n: name_bytes(n) <= NAME_MAX),
    st.integers(1, 100_000),
)
def test_names_derived_from_a_document_name_always_fit(name: str, n: int) -> None:
    for derived in (report_name(name), numbered(name, n), temp_name(name, "123456")):
        assert fits_name_max(derived), derived
    assert numbered(report_name(name), n).endswith(".yaml")


@pytest.mark.parametrize("length", range(200, 256))
def test_a_long_name_keeps_its_end_and_extension(length: int) -> None:
    name = "d" * (length - 7) + f"{length:03d}.pdf"
    report = report_name(name)
    assert name_bytes(report) <= NAME_MAX
    assert report.endswith(f"{length:03d}.pdf.report.yaml")
    second = numbered(name, 2)
    assert name_bytes(second) <= NAME_MAX
    assert second.endswith(f"{length:03d} (2).pdf")
    assert temp_name(name, "4242").startswith(".") and temp_name(name, "4242").endswith(".tmp")


def test_a_short_name_is_not_cut() -> None:
    assert report_name("invoice.pdf") == "invoice.pdf.report.yaml"
    assert temp_name("invoice.pdf", "7") == ".invoice.pdf.7.tmp"


def test_multibyte_and_undecodable_names_are_cut_at_character_boundaries() -> None:
    name = "€" * 83 + ".pdf"  # 253 bytes
    report = report_name(name)
    assert name_bytes(report) <= NAME_MAX
    report.encode("utf-8")  # no half character
    raw = ("x" * 240 + "\udcff" * 10 + ".pdf").encode("utf-8", "surrogateescape")
    undecodable = raw.decode("utf-8", "surrogateescape")
    assert name_bytes(report_name(undecodable)) <= NAME_MAX
