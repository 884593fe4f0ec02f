"""Property tests for the pure value parsers."""

from __future__ import annotations

import math
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxd.config.values import expand_vars, parse_duration, parse_number, resolve_path

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False) | st.integers(0, 10**9))
def test_numbers_are_seconds(value: float) -> None:
    assert parse_duration(value) == float(value)


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4
    )
)
def test_unit_parts_add_up(parts: list[tuple[int, str]]) -> None:
    written = "".join(f"{n}{unit}" for n, unit in parts)
    assert parse_duration(written) == sum(n * UNITS[unit] for n, unit in parts)
    assert parse_duration(written.upper()) == parse_duration(written)


@given(st.floats(max_value=-1e-9, allow_nan=False) | st.integers(max_value=-1))
def test_negative_durations_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@given(st.text())
def test_duration_text_parses_or_raises_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert math.isfinite(seconds) and seconds >= 0


def test_non_finite_and_boolean_durations_are_refused() -> None:
    for value in (math.inf, math.nan, True, "5 3m", "m", ""):
        with pytest.raises(ValueError):
            parse_duration(value)


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert expand_vars(text, {}) == text


@given(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
    st.text(alphabet=st.characters(blacklist_characters="$")),
)
def test_variables_are_replaced_in_both_spellings(name: str, value: str) -> None:
    env = {name: value}
    assert expand_vars(f"<${{{name}}}>", env) == f"<{value}>"
    assert expand_vars(f"${name}", env) == value
    assert expand_vars("$$" + name, env) == "$" + name


def test_an_unset_variable_raises_its_name() -> None:
    with pytest.raises(KeyError, match="CREDENTIALS_DIRECTORY"):
        expand_vars("${CREDENTIALS_DIRECTORY}/key", {})


@given(st.lists(st.sampled_from(["a", "b", "..", ".", "c d"]), max_size=6))
def test_resolved_paths_are_absolute_and_normal(parts: list[str]) -> None:
    resolved = resolve_path("/".join(parts) or ".", Path("/etc/faxd"), {})
    assert resolved.is_absolute()
    assert ".." not in resolved.parts and "." not in resolved.parts


REGIONS = sorted(
    r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(r) is not None
)


@given(st.sampled_from(REGIONS))
def test_e164_is_a_fixed_point(region: str) -> None:
    example = phonenumbers.example_number(region)
    assert example is not None
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    e164 = parse_number(national, region)
    assert e164.startswith("+")
    assert parse_number(e164, "SE") == e164
    assert parse_number(e164, region) == e164
