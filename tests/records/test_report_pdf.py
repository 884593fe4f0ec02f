"""The transmission report PDF as a reader sees it (poppler's text with its positions, and
a rendering): every recipient and error on it, nothing below the page's bottom margin or
drawn over other text, and the one-recipient proof on one page as it always was."""

from __future__ import annotations

import re
from pathlib import Path

from faxd.records.report_pdf import THUMB_BOX, RecipientLine, ReportData, draw
from tests.records.records_helpers import (
    DPI,
    dark_share,
    page_image,
    pdf_text,
    pdf_words,
    render,
    thumbnail_region,
)

PAGE_BOTTOM = 297.0 - 12.0  # mm: the A4 page's bottom margin, below THUMB_BOX's end
SENT = "2026-12-01 14:50:55 +01:00"
FINAL = "2026-12-01 14:52:10 +01:00"


def _recipient(i: int, *, error: str | None) -> RecipientLine:
    return RecipientLine(
        number=f"+4681234560{i}",
        result="failed" if error else "delivered",
        method="fax",
        sent_at=SENT,
        finished_at=FINAL,
        provider_id=f"0b9e6a52-3c1d-4f7e-9a55-81c0d4e2f3{i:02d}",
        attempts=3,
        error=error,
    )


def _data(recipients: list[RecipientLine], **changes: object) -> ReportData:
    failed = [r for r in recipients if r.error]
    values: dict[str, object] = {
        "result": "failed" if failed else "delivered",
        "station_name": "Reception",
        "our_number": "+4612345678",
        "provider": "docs",
        "job_id": "job-1",
        "document": "order.pdf",
        "pages": 2,
        "sha256": "ab" * 32,
        "reference": "Invoice 4711",
        "received_at": SENT,
        "finished_at": FINAL,
        "recipients": recipients,
        # as the YAML report's `error` has it: every failed recipient's error joined
        "error": "; ".join(f"{r.number}: {r.error}" for r in failed) or None,
    }
    values.update(changes)
    return ReportData(**values)  # type: ignore[arg-type]


def _long_error(i: int) -> str:
    # Unique words per recipient, so each error can be found whole in the text.
    return (
        f"the provider refused recipient{i} after every retry: "
        + " ".join(f"r{i}w{n}" for n in range(30))
        + f" end{i}"
    )


def _draw(tmp_path: Path, data: ReportData, name: str = "report.pdf") -> Path:
    pdf = tmp_path / name
    pdf.write_bytes(draw(data, page_image(), None))
    return pdf


def test_ten_recipients_with_long_errors_all_appear_inside_the_pages(tmp_path: Path) -> None:
    recipients = [_recipient(i, error=_long_error(i)) for i in range(10)]
    pdf = _draw(tmp_path, _data(recipients, reference="R" * 256))
    pages = pdf_words(pdf)
    words = [w.text for page in pages for w in page]
    for i, r in enumerate(recipients):
        assert words.count(r.number) == 1, r.number
        for n in range(30):
            assert words.count(f"r{i}w{n}") == 1, f"{r.number}'s error, whole and once"
    # Nothing below the bottom margin (poppler drops what is drawn off the page).
    for number, page in enumerate(pages, 1):
        assert max(w.bottom for w in page) <= PAGE_BOTTOM, f"page {number}"
    # The table goes on with its heading; the heading's "Method" is one word.
    assert len(pages) >= 2
    for page in pages:
        if any(w.text.startswith("+4681234560") for w in page):
            assert [w.text for w in page].count("Method") == 1
    assert not any(w.startswith("Metho") and w != "Method" for w in words)
    # The first page's frame and image come below everything else on their page.
    ((where, label),) = [(n, w) for n, page in enumerate(pages) for w in page if w.text == "First"]
    above = [w for w in pages[where] if w is not label and w.text != "page"]
    assert max((w.bottom for w in above), default=0.0) < label.top
    images = render(pdf, tmp_path)
    assert len(images) == len(pages)
    px = DPI / 25.4
    for image in images:  # the rendering too: not a dot drawn below the margin
        strip = image.crop((0, round((PAGE_BOTTOM + 0.5) * px), image.width, image.height))
        assert dark_share(strip) == 0.0
    box_page = images[where]
    x, _, w, _ = THUMB_BOX
    top = label.bottom + 0.5
    frame = box_page.crop(
        (
            round((x + 2) * px),
            round((top + 2) * px),
            round((x + w - 2) * px),
            round((top + 40) * px),
        )
    )
    assert dark_share(frame) > 0.05, "the first page's image, below its label"


def test_the_top_error_line_counts_the_errors_the_table_lists(tmp_path: Path) -> None:
    recipients = [_recipient(i, error=_long_error(i) if i % 2 else None) for i in range(4)]
    text = pdf_text(_draw(tmp_path, _data(recipients)))
    assert "2 of 4 recipients failed" in text
    for i in (1, 3):
        assert text.count(f"end{i}") == 1


def test_one_recipient_keeps_the_one_page_proof(tmp_path: Path) -> None:
    error = "the line was busy eight times"
    pdf = _draw(tmp_path, _data([_recipient(0, error=error)]))
    pages = render(pdf, tmp_path)
    assert len(pages) == 1
    assert dark_share(thumbnail_region(pages[0])) > 0.05  # where it always was
    text = pdf_text(pdf)
    assert text.count(error) == 1, "said once, on top"
    assert "+46812345600: the line was busy eight times" in text
    assert f"Picked up {SENT}" in " ".join(text.split())
    assert "14:52:10 +01:00" in text  # the table's final time, with its offset too


def test_a_held_document_says_held_and_what_to_do(tmp_path: Path) -> None:
    reason = (
        "+46812345679 is neither a contact nor a number faxd has delivered to, but it is one "
        "slip (one digit changed) from Acme AB, +46812345678: did you mean Acme AB, "
        "+46812345678?"
    )
    hint = "Nothing was sent. If the number is right, 'faxd release' with this document's path"
    held = RecipientLine("+46812345679", "held", None, None, None, None, 0, reason)
    data = _data([held], result="held", error=f"{reason} {hint}")
    text = pdf_text(_draw(tmp_path, data))
    assert "RESULT: HELD" in text and "FAILED" not in text
    assert "faxd release job-1" in text
    assert re.search(r"^\+46812345679\s+held\s", text, re.MULTILINE), "the table's row"


def test_the_method_heading_is_one_word(tmp_path: Path) -> None:
    pages = pdf_words(_draw(tmp_path, _data([_recipient(0, error=None)])))
    words = [w.text for w in pages[0]]
    assert "Method" in words
    assert not [w for w in words if w in ("Metho", "d")]


def test_the_widest_ids_and_numbers_stay_whole_on_one_line(tmp_path: Path) -> None:
    # DejaVu's digits are its widest hex characters, so an all-digit UUID is the widest a
    # provider can send; E.164 allows 15 digits. A broken id cannot be matched by eye or
    # by a search against the provider's records.
    widest = RecipientLine(
        number="+" + "4" * 15,
        result="delivered",
        method="fax",
        sent_at=SENT,
        finished_at=FINAL,
        provider_id="08080808-0808-4808-8808-080808080808",
        attempts=10,
        error=None,
    )
    pdf = _draw(tmp_path, _data([widest]))
    words = [w.text for page in pdf_words(pdf) for w in page]
    assert widest.provider_id in words
    assert widest.number in words
    assert "14:50:55" in words and "2026-12-01" in words
    for heading in ("Recipient", "Result", "Method", "Provider", "Tries"):
        assert heading in words


def test_a_chinese_name_is_drawn_and_a_character_no_font_has_is_marked(tmp_path: Path) -> None:
    # DejaVu has no CJK: before the fallback font those letters were left out silently,
    # and "請求書-3.pdf" read as "-3.pdf". A character no font has (a fax machine emoji)
    # is marked, never dropped.
    recipient = _recipient(1, error=None)
    pdf = _draw(tmp_path, _data([recipient], document="請求書-3.pdf", reference="予約\U0001f4e0"))
    text = pdf_text(pdf)
    assert "請求書-3.pdf" in text
    assert "予約\ufffd" in text


def test_an_arabic_name_is_joined_and_reads_in_its_order(tmp_path: Path) -> None:
    # Drawn one glyph per character, Arabic came out unjoined and backwards: poppler
    # read "ليمعلا ةروتاف" for "فاتورة العميل", a name no reader recognises.
    recipient = _recipient(1, error=None)
    pdf = _draw(tmp_path, _data([recipient], document="فاتورة العميل.pdf"))
    text = pdf_text(pdf)
    assert "فاتورة العميل" in text
    assert f"{recipient.provider_id}" in text  # the shaping of later lines keeps it whole
