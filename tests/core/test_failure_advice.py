from __future__ import annotations

import pytest

from faxd.core.failure_advice import failure_advice, failure_text


def test_a_plain_failure_names_all_three_things_the_office_can_do() -> None:
    advice = failure_advice("Failed", "Generic DOCS", "a3d92fa1")
    assert advice.startswith("Check the number with the recipient")
    assert "send it again later (faxd retry)" in advice
    assert advice.endswith("contact Generic DOCS support quoting id a3d92fa1.")


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("BUSY", "busy"),
        ("RING_TO", "did not answer"),
        ("NOFAX", "check the number with the recipient"),
        ("WRONG_NO", "check the number with the recipient"),
        ("BLACKLIST", "do-not-fax list"),
        ("RENDERING_ERROR", "plain PDF"),
        ("CANCELLED", "cancelled"),
    ],
)
def test_retarus_codes_get_the_advice_that_fits(status: str, words: str) -> None:
    advice = failure_advice(status, "Retarus", "FJ1")
    assert words in advice
    assert advice.endswith("contact Retarus support quoting id FJ1.")


def test_without_an_id_there_is_nothing_to_quote() -> None:
    assert failure_advice("Failed", "Retarus", None).endswith("contact Retarus support.")


def test_the_failure_text_keeps_the_providers_words_first() -> None:
    text = failure_text("BUSY", "Line busy", "Retarus", "FJ1")
    assert text.startswith("Line busy. The line was busy")
    text = failure_text("NOFAX", "simulated", "Retarus", "FJ1")
    assert text.startswith("simulated (NOFAX). No fax machine took the call")
    assert failure_text("BUSY", "busy", "Retarus", "FJ1").startswith("Retarus reports 'BUSY'.")
    assert failure_text("Failed", None, "Generic DOCS", "x").startswith(
        "Generic DOCS reports 'Failed'. Check the number"
    )


def test_a_document_handed_in_by_faxd_send_is_sent_again_with_it() -> None:
    for status in ("BUSY", "Failed"):
        text = failure_text(status, None, "Retarus", "FJ1", again="faxd send")
        assert "(faxd send)" in text and "faxd retry" not in text
