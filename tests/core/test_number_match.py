"""One number comparison for the inbox routes and the DOCS outcome lookup."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxd.core.number_match import comparable_number, same_number


def test_numbers_are_compared_in_international_form() -> None:
    assert comparable_number("+46 8-123 45") == comparable_number("0046812345") == "+46812345"


def test_a_national_number_keeps_its_digits_as_written() -> None:
    assert comparable_number(" 08-123 45 ") == "0812345"


def test_libphonenumber_drops_a_written_trunk_zero_and_reads_wide_digits() -> None:
    assert comparable_number("+46 (0)8 123 45") == "+46812345"
    assert comparable_number("+44 (0)20 7946 0000") == "+442079460000"
    assert (
        comparable_number("\uff0b\uff14\uff16\uff18\uff11\uff12\uff13\uff14\uff15") == "+46812345"
    )


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("+46812345", "0046 8 123 45", True),
        ("+46812345", "46812345", True),  # a listing that drops the '+'
        ("+46812345", "+46812346", False),
        ("+46812345", "", False),
        ("", "", False),
        ("+46812345", "+4681234", False),
    ],
)
def test_same_number(a: str, b: str, same: bool) -> None:
    assert same_number(a, b) is same
    assert same_number(b, a) is same


@given(st.sampled_from(["SE", "DE", "US", "GB", "CH"]), st.integers(100_000, 99_999_999))
def test_every_written_form_of_a_number_is_the_same_number(region: str, national: int) -> None:
    parsed = phonenumbers.parse(str(national), region)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    international = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    assert same_number(e164, international)
    assert same_number(e164, "00" + e164[1:])
    assert same_number(e164, e164[1:])
