"""The activity journal's CSV: what a spreadsheet and the csv module read from it."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from faxd.records.activity import HEADER, ActivityRow, csv_bytes, pdf_bytes
from tests.records.records_helpers import pdf_text_page, render


def _row(**changes: str) -> ActivityRow:
    values = dict.fromkeys(HEADER, "")
    values.update(
        time="2026-11-19T12:00:00+01:00",
        direction="sent",
        our_number="+4612345678",
        other_number="+46812345678",
        document="faktura.pdf",
        pages="2",
        result="delivered",
    )
    values.update(changes)
    return ActivityRow(**values)


def _read(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_bom_header_and_numbers_kept_as_written() -> None:
    data = csv_bytes([_row(document='Fäktura, "nr" 5.pdf')], "standard")
    assert data.startswith(b'\xef\xbb\xbf"time",')
    (row,) = _read(data)
    assert row["our_number"] == "+4612345678" and row["other_number"] == "+46812345678"
    assert row["document"] == 'Fäktura, "nr" 5.pdf'


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_defused() -> None:
    data = csv_bytes([_row(document='=HYPERLINK("http://x")', other_number="@SUM(1)")])
    (row,) = _read(data)
    assert row["document"] == '\'=HYPERLINK("http://x")'
    assert row["other_number"] == "'@SUM(1)"
    assert row["our_number"] == "\t+4612345678"  # a number is not a formula


def test_a_plus_and_a_digit_do_not_make_a_formula_a_number() -> None:
    # A received document's name comes from a remote sender.
    data = csv_bytes([_row(document="+1+1+cmd|' -C calc'!A0.pdf", other_number="+46(0)8-123")])
    (row,) = _read(data)
    assert row["document"] == "'+1+1+cmd|' -C calc'!A0.pdf"
    assert row["other_number"] == "'+46(0)8-123"
    assert row["our_number"] == "\t+4612345678"


def test_excel_dialect_puts_a_tab_before_numbers_and_ids_only() -> None:
    """A double-click in Excel keeps a cell that starts with a tab as text: `+46…` and
    `08…` survive. Only all-digit values get it, in the number and id columns."""
    rows = [
        _row(other_number="0812345678", id="123456789012345678", pages="12", sha256="1234"),
        _row(other_number="+46 8 123", id="job-7", document="4711"),
        _row(other_number="", our_number="-46812345678"),
    ]
    first, second, third = _read(csv_bytes(rows))  # excel is the default
    assert (first["our_number"], first["other_number"], first["id"]) == (
        "\t+4612345678",
        "\t0812345678",
        "\t123456789012345678",
    )
    assert (first["pages"], first["sha256"]) == ("12", "1234")  # not number columns
    assert (second["other_number"], second["id"], second["document"]) == (
        "'+46 8 123",  # a formula (an intersection) to a spreadsheet, not a number
        "job-7",
        "4711",
    )
    # A value a spreadsheet would run is defused, never given a tab (which some
    # spreadsheets strip before they evaluate what follows).
    assert (third["our_number"], third["other_number"]) == ("'-46812345678", "")
    stripped = _read(csv_bytes(rows, "standard"))
    assert [r["other_number"] for r in stripped] == ["0812345678", "'+46 8 123", ""]
    assert [r["id"] for r in stripped] == ["123456789012345678", "job-7", ""]


def test_an_empty_day_has_the_header_only() -> None:
    assert _read(csv_bytes([])) == []
    assert csv_bytes([]).decode("utf-8-sig").splitlines()[0].split(",")[0] == '"time"'


def test_the_pdf_table_runs_across_pages_with_totals_at_the_end(tmp_path: Path) -> None:
    rows = [
        _row(other_number=f"+4681234{n:04d}", result="failed" if n % 10 == 0 else "delivered")
        for n in range(120)
    ]
    pdf = tmp_path / "day.pdf"
    pdf.write_bytes(pdf_bytes(rows, date(2026, 11, 19), "Front desk"))
    pages = render(pdf, tmp_path)
    assert len(pages) >= 2
    second = pdf_text_page(pdf, 2)
    assert "Other number" in second  # the header row is repeated
    last = pdf_text_page(pdf, len(pages))
    assert "Totals: 120 sent (108 delivered, 12 failed), 0 received, 240 pages." in last
    assert "+46812340119" in last


def _journal_text(tmp_path: Path, rows: list[ActivityRow]) -> str:
    pdf = tmp_path / "day.pdf"
    pdf.write_bytes(pdf_bytes(rows, date(2026, 10, 25), "Front desk"))
    return pdf_text_page(pdf, 1)


def test_the_pdf_shows_each_rows_offset(tmp_path: Path) -> None:
    """The last Sunday of October crosses the clock change: each time has its offset."""
    rows = [_row(time="2026-10-25T01:30:00+02:00"), _row(time="2026-10-25T14:50:48+01:00")]
    text = _journal_text(tmp_path, rows)
    assert "01:30:00 +02:00" in text and "14:50:48 +01:00" in text


def test_id_and_checksum_are_two_lines_without_a_replacement_character(tmp_path: Path) -> None:
    rows = [
        _row(id="remote-a", sha256="ab" * 32),
        _row(id="remote-b", sha256="cd" * 32),
    ]
    text = _journal_text(tmp_path, rows)
    assert "\ufffd" not in text
    words = text.split()
    for row in rows:
        assert row.id in words  # on a line of its own, the checksum below it
        assert any(w.startswith(row.sha256[:40]) for w in words)
