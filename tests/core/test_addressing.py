from __future__ import annotations

from pathlib import PurePosixPath

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from faxd.core.addressing import (
    Address,
    find_contact,
    looks_like_number,
    parse_number,
    parse_recipients,
    resolve_address,
    split_recipients,
)
from faxd.core.sidecar import Sidecar
from faxd.errors import AddressError

CONTACTS = {"Acme AB": "+46812345678", "Bolaget": "+46311234567"}


def sidecar(*to: str, source: str = "invoice.pdf.yaml") -> Sidecar:
    return Sidecar(
        to=to,
        sender=None,
        dft=None,
        attach=(),
        reference=None,
        provider=None,
        retarus=None,
        source=source,
    )


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("08-123 456 78", "SE", "+46812345678"),
        ("+46 8 123 456 78", "SE", "+46812345678"),
        ("+46 8 123 456 78", "DE", "+46812345678"),
        ("0046 8 123 456 78", "SE", "+46812345678"),
        ("(08) 123 456 78", "SE", "+46812345678"),
        ("031-123 45 67", "se", "+46311234567"),
        ("089 1234567", "DE", "+49891234567"),
        ("+4612345678", "SE", "+4612345678"),
        ("  +46812345678  ", "SE", "+46812345678"),
    ],
)
def test_parse_number(text: str, region: str, expected: str) -> None:
    assert parse_number(text, region, {}) == expected


def test_contacts_exact_then_ignoring_case() -> None:
    assert parse_number("Acme AB", "SE", CONTACTS) == "+46812345678"
    assert parse_number("acme ab", "SE", CONTACTS) == "+46812345678"
    assert parse_number("BOLAGET", "SE", CONTACTS) == "+46311234567"


def test_ambiguous_case_insensitive_contact_is_not_guessed() -> None:
    contacts = {"acme": "+46812345678", "ACME": "+46311234567"}
    assert find_contact("Acme", contacts) is None
    assert find_contact("ACME", contacts) == "+46311234567"


@pytest.mark.parametrize(
    ("text", "region", "message"),
    [
        ("08-123", "SE", "'08-123' is not a valid phone number in region SE."),
        ("1", "SE", "'1' is not a phone number."),
        ("+46 1234567890123456789", "SE", "is not a phone number: it is too long."),
        (
            "Acme",
            "SE",
            "'Acme' is neither a name in contacts nor a phone number "
            "(did you mean the contact 'Acme AB'?).",
        ),
        ("1-800-FLOWERS", "US", "'1-800-FLOWERS' is neither a name in contacts nor a phone"),
        ("08-123 456 78", "", "'08-123 456 78' has no country code"),
        ("+999 1234 5678", "SE", "starts with a country code no country uses"),
        ("00999 1234 5678", "", "starts with a country code no country uses"),
        ("", "SE", "An empty recipient"),
    ],
)
def test_parse_number_errors(text: str, region: str, message: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_number(text, region, CONTACTS)
    assert message in info.value.message


def test_international_number_without_a_region() -> None:
    assert parse_number("+46 8 123 456 78", "", {}) == "+46812345678"


_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@given(st.sampled_from(_REGIONS), st.sampled_from(["SE", "DE", "US", "GB"]))
def test_e164_round_trip(number_region: str, parse_region: str) -> None:
    example = phonenumbers.example_number_for_type(
        number_region, phonenumbers.PhoneNumberType.FIXED_LINE
    )
    assume(example is not None and phonenumbers.is_valid_number(example))
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    international = phonenumbers.format_number(
        example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    assert parse_number(e164, parse_region, {}) == e164
    assert parse_number(international, parse_region, {}) == e164
    # What parse_number returns is a fixed point.
    assert parse_number(parse_number(e164, parse_region, {}), parse_region, {}) == e164


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+46 8 123 456 78", True),
        ("(08) 123-456.78", True),
        ("08/1234", True),
        ("Acme AB", False),
        ("1-800-FLOWERS", False),
        ("+", False),
        ("", False),
    ],
)
def test_looks_like_number(text: str, expected: bool) -> None:
    assert looks_like_number(text) is expected


def test_split_recipients() -> None:
    assert split_recipients(" a ;b,, c ; ") == ["a", "b", "c"]


def test_parse_recipients_splits_and_deduplicates_in_order() -> None:
    assert parse_recipients("+46 8 123 456 78; +46 31 123 45 67", "SE", {}) == (
        "+46812345678",
        "+46311234567",
    )
    assert parse_recipients(
        ["Bolaget", "08-123 456 78", "Acme AB", "+46311234567"], "SE", CONTACTS
    ) == ("+46311234567", "+46812345678")


def test_parse_recipients_lists_every_bad_entry() -> None:
    with pytest.raises(AddressError) as info:
        parse_recipients("08-123; Acme AB; Nobody", "SE", CONTACTS)
    assert info.value.message == (
        "'08-123' is not a valid phone number in region SE; "
        "'Nobody' is neither a name in contacts nor a phone number."
    )


def test_parse_recipients_needs_at_least_one() -> None:
    with pytest.raises(AddressError, match="No recipient was given"):
        parse_recipients(" ; ", "SE", {})


def test_parse_recipients_at_most_ten() -> None:
    numbers = [f"+46812345{i:03d}" for i in range(11)]
    assert len(parse_recipients(numbers[:10], "SE", {})) == 10
    with pytest.raises(AddressError, match="11 recipients were given; at most 10"):
        parse_recipients(numbers, "SE", {})
    # Duplicates do not count twice.
    assert len(parse_recipients(numbers[:10] + numbers[:5], "SE", {})) == 10


def resolve(path: str, side: Sidecar | None = None, folder_to: tuple[str, ...] = ()) -> Address:
    return resolve_address(PurePosixPath(path), side, folder_to, "SE", CONTACTS)


def test_sidecar_wins_over_subfolder_and_folder() -> None:
    address = resolve("Bolaget/invoice.pdf", sidecar("08-123 456 78"), ("+46311234567",))
    assert address == Address("sidecar", ("+46812345678",), "invoice.pdf.yaml")


def test_sidecar_source_defaults_to_the_yaml_name() -> None:
    address = resolve("invoice.pdf", sidecar("Acme AB", source=""))
    assert address.source == "invoice.pdf.yaml"


def test_subfolder_wins_over_folder() -> None:
    assert resolve("+46812345678/invoice.pdf", None, ("+46311234567",)) == Address(
        "subfolder", ("+46812345678",), "subfolder '+46812345678'"
    )


@pytest.mark.parametrize(
    ("folder", "numbers"),
    [
        ("Acme AB", ("+46812345678",)),
        ("08-123 456 78", ("+46812345678",)),
        ("+46 8 123 456 78; +46 31 123 45 67", ("+46812345678", "+46311234567")),
        ("Acme AB, Bolaget", ("+46812345678", "+46311234567")),
    ],
)
def test_recipient_subfolders(folder: str, numbers: tuple[str, ...]) -> None:
    assert resolve(f"{folder}/invoice.pdf").numbers == numbers


def test_only_the_first_folder_level_names_recipients() -> None:
    address = resolve("Acme AB/2026/11/invoice.pdf")
    assert address.numbers == ("+46812345678",)
    assert address.source == "subfolder 'Acme AB'"


def test_folder_to_applies_at_the_spool_root() -> None:
    assert resolve("invoice.pdf", None, ("Acme AB", "+46311234567")) == Address(
        "folder", ("+46812345678", "+46311234567"), "folder to:"
    )


def test_bad_subfolder_says_what_would_work() -> None:
    with pytest.raises(AddressError) as info:
        resolve("Acme/invoice.pdf", None, ("+46311234567",))
    error = info.value
    assert error.message == (
        "Acme/invoice.pdf: subfolder 'Acme' does not name a recipient: 'Acme' is neither "
        "a name in contacts nor a phone number (did you mean the contact 'Acme AB'?)."
    )
    assert error.hint is not None
    assert "contacts: 'Acme AB', 'Bolaget'" in error.hint
    assert "region SE" in error.hint
    assert "invoice.pdf.yaml" in error.hint


def test_bad_sidecar_recipient_names_the_sidecar() -> None:
    with pytest.raises(AddressError) as info:
        resolve("invoice.pdf", sidecar("08-123"))
    assert info.value.message == (
        "invoice.pdf: sidecar invoice.pdf.yaml: '08-123' is not a valid phone number in region SE."
    )


def test_bad_folder_to() -> None:
    with pytest.raises(AddressError, match=r"invoice\.pdf: the folder's 'to:' names no valid"):
        resolve("invoice.pdf", None, ("Nobody",))


def test_no_rule_applies() -> None:
    with pytest.raises(AddressError) as info:
        resolve("invoice.pdf")
    assert info.value.message == (
        "invoice.pdf: no recipient: no sidecar, not in a recipient subfolder, and the "
        "folder has no 'to:'."
    )
    assert info.value.hint is not None
    assert "invoice.pdf.yaml" in info.value.hint


def test_many_contacts_are_summarised_in_the_hint() -> None:
    contacts = {f"Contact {i:02d}": "+46812345678" for i in range(20)}
    with pytest.raises(AddressError) as info:
        resolve_address(PurePosixPath("Nobody/x.pdf"), None, (), "SE", contacts)
    assert info.value.hint is not None
    assert "'Contact 07' and 12 more" in info.value.hint


ADDRESS_BOOK = {"Smith, John": "+46812345601", "Smith": "+46812345602", "John": "+46812345603"}


@pytest.mark.parametrize(
    ("written", "numbers"),
    [
        ("Smith, John", ("+46812345601",)),  # as address books write names: one contact
        ("smith, john", ("+46812345601",)),
        (["Smith, John", "Smith"], ("+46812345601", "+46812345602")),
        ("Smith; John", ("+46812345602", "+46812345603")),  # no contact of that name: two
        ("Smith,John", ("+46812345602", "+46812345603")),
    ],
)
def test_a_contact_whose_name_holds_a_separator_is_one_recipient(
    written: str | list[str], numbers: tuple[str, ...]
) -> None:
    assert parse_recipients(written, "SE", ADDRESS_BOOK) == numbers


def test_every_rule_reads_a_contact_with_a_comma_whole() -> None:
    def numbers(path: str, side: Sidecar | None = None, to: tuple[str, ...] = ()) -> object:
        return resolve_address(PurePosixPath(path), side, to, "SE", ADDRESS_BOOK).numbers

    assert numbers("Smith, John/letter.pdf") == ("+46812345601",)
    assert numbers("letter.pdf", sidecar("Smith, John")) == ("+46812345601",)
    assert numbers("letter.pdf", to=("Smith, John",)) == ("+46812345601",)


@pytest.mark.parametrize(
    "written",
    [
        "+46\u202f8\u202f123\u202f456\u202f78",  # narrow no-break spaces, as typeset
        "+46\u20098\u2009123\u2009456\u200978",  # thin spaces
        "08\u2212123 456 78",  # a minus sign
        "08\u2010123\u00a0456\u00a078",  # a Unicode hyphen, no-break spaces
        "\uff0b46 8 123 456 78",  # a full-width plus
    ],
)
def test_look_alike_spaces_dashes_and_plus_signs_read_as_the_number_they_show(
    written: str,
) -> None:
    assert parse_number(written, "SE", {}) == "+46812345678"


@pytest.mark.parametrize(
    ("written", "named"),
    [
        ("08-123\u00ad456 78", "U+00AD SOFT HYPHEN"),
        ("+46 8 123 \u202e87 654", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\ufeff+46812345678", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ],
)
def test_an_invisible_character_is_named_and_never_dropped(written: str, named: str) -> None:
    # Dropped, a direction override would dial the digits in another order than shown.
    with pytest.raises(AddressError) as info:
        parse_number(written, "SE", {})
    assert f"holds an invisible character ({named})" in info.value.message


def test_a_name_written_decomposed_finds_its_contact() -> None:
    contacts = {"Müller GmbH": "+46812345601"}
    assert parse_number("Mu\u0308ller GmbH", "SE", contacts) == "+46812345601"
    assert parse_number("MU\u0308LLER GMBH", "SE", contacts) == "+46812345601"


def test_a_name_matching_contacts_that_differ_in_case_says_so() -> None:
    contacts = {"Acme AB": "+46812345601", "ACME AB": "+46812345602"}
    with pytest.raises(AddressError) as info:
        parse_number("acme ab", "SE", contacts)
    assert info.value.message == (
        "'acme ab' matches the contacts 'ACME AB' and 'Acme AB', which differ only in case"
        " and have different numbers; write the name exactly as one of them."
    )
