"""When two phone numbers, as people and providers write them, are the same number.

Providers list numbers as they please ("+46 8-123 45", "0046812345", sometimes without
the '+'); faxd's own are E.164. libphonenumber reads the international forms (its digit
normalisation also takes full-width and other Unicode digits); a number without a
country code is compared by its digits as written."""

from __future__ import annotations

import functools

import phonenumbers


# Cached: the office's own numbers and its frequent senders recur in every listing, and
# libphonenumber's parse was a tenth of the CPU of receiving a document.
@functools.lru_cache(maxsize=4096)
def comparable_number(text: str) -> str:
    """E.164 ("+46812345") for a number written with its country code ("+46 8-123 45",
    "0046812345"), else the digits as written ("08123 45" -> "0812345")."""
    written = text.strip()
    digits = phonenumbers.normalize_digits_only(written)
    if written[:1] in ("+", "\uff0b"):  # a plus sign, or a full-width one
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    else:
        return digits
    try:
        parsed = phonenumbers.parse(f"+{international}", None)
    except phonenumbers.NumberParseException:
        return f"+{international}"  # no known country code: compared as written
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def same_number(a: str, b: str) -> bool:
    """True when `a` and `b` are one number; a side written without its '+' (some
    listings drop it) still matches the other's international form. Blank is no number."""
    first, second = comparable_number(a), comparable_number(b)
    return bool(first.strip("+")) and first.lstrip("+") == second.lstrip("+")
