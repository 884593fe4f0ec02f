"""The near-number rule of the misdial guard, as properties over generated numbers."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import assume, given
from hypothesis import strategies as st

from faxd.core.misdial import (
    KnownLookup,
    Verdict,
    check,
    contact_index,
    neighbours,
    refused_by,
    split_country,
)


def known_lookup(numbers: Iterable[str]) -> KnownLookup:
    """The journal's known-number query over a plain set."""
    known = set(numbers)
    return lambda asked: {n for n in asked if n in known}


COUNTRY_CODES = ["+1", "+44", "+45", "+46", "+47", "+49", "+358", "+354"]
nationals = st.text("0123456789", min_size=4, max_size=12)
numbers = st.builds(lambda cc, nat: cc + nat, st.sampled_from(COUNTRY_CODES), nationals)


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: the reference the index must agree with."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


@st.composite
def slips(draw: st.DrawFn) -> tuple[str, str, str]:
    """(original, mistyped, edit kind) with exactly one slip in the national part."""
    cc = draw(st.sampled_from(COUNTRY_CODES))
    nat = draw(nationals)
    kind = draw(st.sampled_from(["changed", "added", "dropped", "swapped"]))
    i = draw(st.integers(0, len(nat) - 1))
    digit = draw(st.sampled_from("0123456789"))
    if kind == "changed":
        assume(digit != nat[i])
        typo = nat[:i] + digit + nat[i + 1 :]
    elif kind == "added":
        typo = nat[:i] + digit + nat[i:]
    elif kind == "dropped":
        typo = nat[:i] + nat[i + 1 :]
    else:
        assume(i + 1 < len(nat) and nat[i] != nat[i + 1])
        typo = nat[:i] + nat[i + 1] + nat[i] + nat[i + 2 :]
    assume(typo != nat)
    return cc + nat, cc + typo, kind


def nothing(_: object) -> set[str]:
    return set()


@given(slips())
def test_each_kind_of_slip_from_a_contact_is_held_with_the_contact_suggested(
    case: tuple[str, str, str],
) -> None:
    original, typo, _kind = case
    verdict = check(typo, contact_index({"Acme AB": original}), nothing)
    assert verdict.hold == "near"
    assert verdict.near[0].number == original
    assert verdict.near[0].contact == "Acme AB"
    assert verdict.reason is not None
    assert f"did you mean Acme AB, {original}?" in verdict.reason


@given(slips())
def test_each_kind_of_slip_from_a_number_delivered_to_is_held(case: tuple[str, str, str]) -> None:
    original, typo, _kind = case
    verdict = check(typo, {}, known_lookup([original]))
    assert verdict.hold == "near"
    assert [n.number for n in verdict.near] == [original]
    assert verdict.near[0].contact is None


@given(numbers, st.sampled_from(["send", "hold"]))
def test_the_exact_number_is_never_held(number: str, new_numbers: str) -> None:
    near_contact = {"Other": number[:-1] + ("1" if number[-1] != "1" else "2")}
    as_contact = check(number, contact_index({"Acme AB": number, **near_contact}), nothing)
    as_known = check(
        number,
        contact_index(near_contact),
        known_lookup([number]),
        new_numbers=new_numbers,  # type: ignore[arg-type]
    )
    assert as_contact == Verdict(number, None)
    assert as_known == Verdict(number, None)


@given(slips())
def test_a_number_near_one_contact_but_itself_a_contact_is_not_held(
    case: tuple[str, str, str],
) -> None:
    original, typo, _kind = case
    contacts = contact_index({"Acme AB": original, "Acme Support": typo})
    assert check(typo, contacts, nothing).hold is None


@given(st.sampled_from(COUNTRY_CODES), st.sampled_from(COUNTRY_CODES), nationals)
def test_numbers_of_another_country_are_not_confused(cc: str, other_cc: str, nat: str) -> None:
    assume(cc != other_cc)
    assert check(cc + nat, contact_index({"Abroad": other_cc + nat}), nothing).hold is None
    assert check(cc + nat, {}, known_lookup([other_cc + nat])).hold is None


@given(numbers, st.text("0123456789", min_size=2, max_size=4))
def test_numbers_two_or_more_digits_longer_are_not_confused(number: str, extra: str) -> None:
    assert check(number + extra, contact_index({"Acme AB": number}), nothing).hold is None
    assert check(number, contact_index({"Acme AB": number + extra}), nothing).hold is None


@given(st.sampled_from(COUNTRY_CODES), nationals, nationals)
def test_neighbours_are_exactly_the_numbers_one_slip_away(cc: str, a: str, b: str) -> None:
    assert (cc + b in neighbours(cc + a)) == (osa_distance(a, b) == 1)


@given(slips())
def test_neighbours_name_the_slip_and_are_symmetric(case: tuple[str, str, str]) -> None:
    original, typo, kind = case
    found = neighbours(original)
    assert typo in found
    assert original in neighbours(typo)
    if kind in ("changed", "swapped"):
        assert len(typo) == len(original)
    assert found[typo] in ("changed", "added", "dropped", "swapped")
    assert original not in found


def test_the_neighbourhood_stays_small_for_the_longest_numbers() -> None:
    assert len(neighbours("+" + "1" + "23456789012345")) < 330


def test_new_numbers_hold_holds_only_numbers_never_seen() -> None:
    known = known_lookup(["+46812345611"])
    assert check("+46855512345", {}, known, new_numbers="hold").hold == "new"
    assert check("+46812345611", {}, known, new_numbers="hold").hold is None
    assert check("+46855512345", {}, known).hold is None


def test_the_guard_off_still_lets_new_numbers_hold() -> None:
    contacts = contact_index({"Acme AB": "+46812345678"})
    assert check("+46812345679", contacts, nothing, guard=False).hold is None
    held = check("+46812345679", contacts, nothing, guard=False, new_numbers="hold")
    assert held.hold == "new"


def test_contacts_are_suggested_before_numbers_only_delivered_to() -> None:
    contacts = contact_index({"Acme AB": "+46812345678", "Beta": "+46812345670"})
    verdict = check("+46812345677", contacts, known_lookup(["+46812345676"]))
    assert [n.shown for n in verdict.near] == [
        "Acme AB, +46812345678",
        "Beta, +46812345670",
        "+46812345676 (delivered to before)",
    ]
    assert verdict.reason is not None
    assert "one digit changed" in verdict.reason


def test_shared_numbers_suggest_one_name_in_a_stable_order() -> None:
    assert contact_index({"b": "+4611", "A": "+4611"}) == {"+4611": "A"}


def test_split_country_reads_codes_of_one_to_three_digits() -> None:
    assert split_country("+46812345678") == ("+46", "812345678")
    assert split_country("+12025550123") == ("+1", "2025550123")
    assert split_country("+358401234567") == ("+358", "401234567")
    assert split_country("46812345678") is None
    assert split_country("+46") is None
    assert neighbours("not a number") == {}


def test_deny_wins_over_allow_and_each_refusal_names_its_rule() -> None:
    assert refused_by("+46812345678", ["+46"], []) is None
    assert refused_by("+46812345678", [], []) is None
    denied = refused_by("+46900123456", ["+46"], ["+46900", "+469"])
    assert denied is not None and "'+46900'" in denied
    outside = refused_by("+4930123456", ["+46", "+47"], [])
    assert outside is not None and "'+46', '+47'" in outside
