"""Which allow/deny prefixes begin with their country's trunk prefix and so can match no
number, read from libphonenumber's metadata."""

from __future__ import annotations

import itertools
import re

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from faxd.core.trunk_prefix import may_start, trunk_prefix

_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _example_numbers() -> list[str]:
    found = []
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            meta = PhoneMetadata.metadata_for_region(region)
            for kind in _TYPES:
                desc = getattr(meta, kind, None) if meta is not None else None
                if desc is not None and desc.example_number:
                    number = phonenumbers.parse(f"+{code}{desc.example_number}")
                    if phonenumbers.is_valid_number(number):
                        found.append(f"+{code}{desc.example_number}")
    return found


def test_no_start_of_a_valid_number_is_taken_for_a_trunk_prefix() -> None:
    # Every region's example numbers of every kind: +7 8…, +375 8…, +39 0…, +81 0… among them.
    examples = _example_numbers()
    assert len(examples) > 1000
    wrong = [
        number[:end]
        for number in examples
        for end in range(2, len(number) + 1)
        if trunk_prefix(number[:end]) is not None
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("prefix", "code", "trunk"),
    [("+460900", "46", "0"), ("+44020", "44", "0"), ("+3606", "36", "06"), ("+11", "1", "1")],
)
def test_a_prefix_beginning_with_the_trunk_prefix_is_found(
    prefix: str, code: str, trunk: str
) -> None:
    found = trunk_prefix(prefix)
    assert found is not None and (found.code, found.trunk) == (code, trunk)


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?:[26]\d|9)\d{2}|[1-9]\d{3}|[1-689]\d",  # Sweden's shape, shorter
        r"8\d{3}|[347-9]\d{2}",  # Russia's: the trunk digit 8 begins numbers too
        r"0\d{2,3}|1\d?|3(?:[0-8]\d|9)|8\d(?:\d{1,2})?",  # Italy's: 0 is kept
        r"(?:[42]5){1,2}\d",
        r"(?:1[2-4]?){2}5",
        r"[13-5]\d?7",
    ],
)
def test_may_start_agrees_with_every_number_the_pattern_matches(pattern: str) -> None:
    # Short patterns, so that every number they match (up to 5 digits) can be listed.
    compiled = re.compile(pattern)
    starts: set[str] = set()
    for length in range(1, 6):
        for digits in itertools.product("0123456789", repeat=length):
            text = "".join(digits)
            if compiled.fullmatch(text):
                starts.update(text[:end] for end in range(1, length + 1))
    for length in (1, 2, 3):
        for digits in itertools.product("0123456789", repeat=length):
            text = "".join(digits)
            assert may_start(pattern, text) == (text in starts), text


def test_a_pattern_it_cannot_read_is_taken_to_match_anything() -> None:
    assert may_start(r"[^0]\d{5}", "0")  # never refuses a prefix on a pattern it misread
