"""Who receives a document (the first rule that applies): sidecar, else recipient
subfolder, else what a printing program left (file-name pattern, PJL directives, embedded
code; see print_clues), else the folder's `to:`. Numbers are validated with libphonenumber
and come out E.164."""

from __future__ import annotations

import difflib
import functools
import re
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

import phonenumbers

from faxd.core.print_clues import Clue
from faxd.core.sidecar import MAX_RECIPIENTS, Sidecar, sidecar_names
from faxd.errors import AddressError

Rule = Literal["sidecar", "subfolder", "name", "pjl", "embedded", "folder"]

# Digits with the punctuation people write in phone numbers. Letters are not allowed:
# a misspelt contact name must not be read as a vanity number (1-800-FLOWERS).
_NUMBER_LIKE = re.compile(r"\+?[\d\s().\-/]*\d[\d\s().\-/]*")
_SEPARATORS = re.compile(r"[,;]")
_SHOWN_CONTACTS = 8
_PARSE_PROBLEMS = {
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "is too short",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "is too short",
    phonenumbers.NumberParseException.TOO_LONG: "is too long",
}


@dataclass(frozen=True)
class Address:
    rule: Rule
    numbers: tuple[str, ...]  # E.164, de-duplicated, order kept
    source: str  # what was read: "invoice.pdf.yaml", "subfolder 'Acme AB'", "folder to:"


def looks_like_number(text: str) -> bool:
    """True if `text` is written like a phone number (digits, '+', spaces, ()-./)."""
    return bool(_NUMBER_LIKE.fullmatch(text.strip()))


def split_recipients(text: str) -> list[str]:
    """The entries of a recipient string: separated by ',' or ';', blanks dropped."""
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


def find_contact(name: str, contacts: Mapping[str, str]) -> str | None:
    """The number of contact `name`: exact match first, then as the same characters
    (a folder name a Mac or an SMB client wrote decomposed, "Mu\u0308ller"), then
    ignoring case; None when no contact or several differing in case match."""
    if name in contacts:
        return contacts[name]
    numbers = set(_case_matches(name, contacts).values())
    return numbers.pop() if len(numbers) == 1 else None


def _case_matches(name: str, contacts: Mapping[str, str]) -> dict[str, str]:
    """The contacts whose names are `name` once composed the same way and case-folded."""
    return _folded_index(contacts).get(_folded(name), {})


# The contacts of the configuration in use (and of the last few a test made): folding
# 10,000 names for every recipient cost 8 ms a number. Held by reference, so an id is
# never that of another mapping; a mapping is not changed once loaded (len guards it).
_INDEXES: dict[int, tuple[Mapping[str, str], int, dict[str, dict[str, str]]]] = {}
_INDEXES_KEPT = 4
_INDEXES_LOCK = threading.Lock()


def _folded_index(contacts: Mapping[str, str]) -> dict[str, dict[str, str]]:
    cached = _INDEXES.get(id(contacts))
    if cached is not None and cached[0] is contacts and cached[1] == len(contacts):
        return cached[2]
    index: dict[str, dict[str, str]] = {}
    for key, number in contacts.items():
        index.setdefault(_folded(key), {})[key] = number
    with _INDEXES_LOCK:  # takers address documents on several threads at once
        if len(_INDEXES) >= _INDEXES_KEPT:
            _INDEXES.pop(next(iter(_INDEXES)))
        _INDEXES[id(contacts)] = (contacts, len(contacts), index)
    return index


def _folded(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _not_a_number(text: str, contacts: Mapping[str, str]) -> AddressError:
    several = _case_matches(text, contacts)
    if len(set(several.values())) > 1:
        names = " and ".join(f"'{key}'" for key in sorted(several))
        return AddressError(
            f"'{text}' matches the contacts {names}, which differ only in case and have"
            " different numbers; write the name exactly as one of them."
        )
    hidden = _invisible(text)
    if hidden is not None:
        return AddressError(
            f"'{text}' holds an invisible character ({hidden}); type the number or name"
            " again without it."
        )
    close = difflib.get_close_matches(text, list(contacts), n=1, cutoff=0.6)
    guess = f" (did you mean the contact '{close[0]}'?)" if close else ""
    return AddressError(f"'{text}' is neither a name in contacts nor a phone number{guess}.")


def _invisible(text: str) -> str | None:
    """The first format character in `text` (a soft hyphen, a direction mark, a BOM), named.
    Never dropped: a direction mark shows digits in another order than they are dialled."""
    for char in text:
        if unicodedata.category(char) == "Cf":
            return f"U+{ord(char):04X} {unicodedata.name(char, 'FORMAT CHARACTER')}"
    return None


def _plain_separators(text: str) -> str:
    """Look-alike spaces, dashes and plus signs as ASCII (a typeset "+46 8 123" with thin
    spaces, "08−123" with a minus sign): they separate digits and change no digit."""
    out = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Zs":
            out.append(" ")
        elif category == "Pd" or char == "\u2212":
            out.append("-")
        elif char == "\uff0b":
            out.append("+")
        else:
            out.append(char)
    return "".join(out)


def parse_number(text: str, region: str, contacts: Mapping[str, str]) -> str:
    """A contact name or a phone number (E.164 or national in `region`) as E.164.

    Raises AddressError naming the text and why it is not usable."""
    entry = text.strip()
    if not entry:
        raise AddressError("An empty recipient was given instead of a number or contact name.")
    contact = find_contact(entry, contacts)
    if contact is not None:
        return contact
    plain = _plain_separators(entry)
    if not looks_like_number(plain):
        raise _not_a_number(entry, contacts)
    return _as_e164(plain, region)


@functools.lru_cache(maxsize=1024)
def _as_e164(entry: str, region: str) -> str:
    # Cached: a folder's `to:` and a busy recipient recur in every document, and parsing
    # and validating with libphonenumber was a tenth of taking one. A refusal raises, and
    # lru_cache keeps no exception, so it is worked out again each time (rare).
    default_region = region.upper() if region else None
    try:
        parsed = phonenumbers.parse(entry, default_region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            if entry.lstrip().startswith(("+", "00")):
                # It has one, but no country uses it (+999 …): the code is what is wrong.
                raise AddressError(
                    f"'{entry}' starts with a country code no country uses; check the digits"
                    " after the + (or the 00)."
                ) from None
            raise AddressError(
                f"'{entry}' has no country code and region '{region}' cannot supply one; "
                "write it in international form (+46 8 123 456 78) or set defaults.region."
            ) from None
        why = _PARSE_PROBLEMS.get(exc.error_type)
        because = f": it {why}" if why else ""
        raise AddressError(f"'{entry}' is not a phone number{because}.") from None
    where = f"in region {default_region}" if default_region else "in international form"
    if not phonenumbers.is_valid_number(parsed):
        raise AddressError(f"'{entry}' is not a valid phone number {where}.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _entries(value: str | Sequence[str], contacts: Mapping[str, str]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    # A contact named "Smith, John" (as address books write names) is one recipient, not
    # the contacts "Smith" and "John".
    return [
        entry
        for item in items
        for entry in (
            [item.strip()] if find_contact(item.strip(), contacts) else split_recipients(item)
        )
    ]


def parse_recipients(
    value: str | Sequence[str], region: str, contacts: Mapping[str, str]
) -> tuple[str, ...]:
    """Every recipient in `value` as E.164, de-duplicated in order; at most 10.

    A string may hold several entries separated by ',' or ';', unless the whole string is
    a contact's name. Raises AddressError listing every bad entry at once."""
    entries = _entries(value, contacts)
    if not entries:
        raise AddressError("No recipient was given.")
    numbers: list[str] = []
    problems: list[str] = []
    for entry in entries:
        try:
            number = parse_number(entry, region, contacts)
        except AddressError as exc:
            problems.append(exc.message.rstrip("."))
            continue
        if number not in numbers:
            numbers.append(number)
    if problems:
        raise AddressError("; ".join(problems) + ".")
    if len(numbers) > MAX_RECIPIENTS:
        raise AddressError(
            f"{len(numbers)} recipients were given; at most {MAX_RECIPIENTS} are allowed."
        )
    return tuple(numbers)


def _contact_list(contacts: Mapping[str, str]) -> str:
    names = sorted(contacts, key=str.casefold)
    if not names:
        return "no contacts are configured"
    shown = ", ".join(f"'{name}'" for name in names[:_SHOWN_CONTACTS])
    more = f" and {len(names) - _SHOWN_CONTACTS} more" if len(names) > _SHOWN_CONTACTS else ""
    return f"contacts: {shown}{more}"


def resolve_address(
    rel_path: PurePosixPath,
    sidecar: Sidecar | None,
    folder_to: Sequence[str],
    region: str,
    contacts: Mapping[str, str],
    clues: Sequence[Clue] = (),
) -> Address:
    """The recipients of the document at `rel_path` (relative to its spool root).

    The first rule that applies wins: the sidecar, then the first folder level under the
    spool root, then the print clues in the order given (file-name pattern, PJL, embedded
    code), then the folder's fixed `to:`. Raises AddressError when the rule that applies
    names no valid recipient, or no rule applies."""
    document = rel_path.name
    if sidecar is not None:
        source = sidecar.source or sidecar_names(document)[0]
        try:
            numbers = parse_recipients(sidecar.to, region, contacts)
        except AddressError as exc:
            raise AddressError(
                f"{rel_path}: sidecar {source}: {exc.message}",
                f"Fix 'to:' in {source} and move both files back into the spool folder.",
            ) from None
        return Address("sidecar", numbers, source)
    if len(rel_path.parts) > 1:
        folder = rel_path.parts[0]
        try:
            numbers = parse_recipients(folder, region, contacts)
        except AddressError as exc:
            raise AddressError(
                f"{rel_path}: subfolder '{folder}' does not name a recipient: {exc.message}",
                "Name the subfolder after a number (E.164 like +46812345678, or national in "
                f"region {region}; several separated by ',' or ';') or a "
                f"contact ({_contact_list(contacts)}), or add a sidecar {document}.yaml.",
            ) from None
        return Address("subfolder", numbers, f"subfolder '{folder}'")
    if clues:
        return _from_clue(rel_path, clues[0], region, contacts)
    if folder_to:
        try:
            numbers = parse_recipients(folder_to, region, contacts)
        except AddressError as exc:
            raise AddressError(
                f"{rel_path}: the folder's 'to:' names no valid recipient: {exc.message}",
                "Fix 'to:' for this folder in the configuration ('faxd check-config').",
            ) from None
        return Address("folder", numbers, "folder to:")
    raise AddressError(
        f"{rel_path}: no recipient: no sidecar, not in a recipient subfolder, and the "
        "folder has no 'to:'.",
        f"Add a sidecar {document}.yaml with 'to: \"+46812345678\"', put the document in a "
        "subfolder named after the number or contact, or set 'to:' for the folder.",
    )


_CLUE_HINTS = {
    "name": "Rename the file so the pattern's 'to' part holds a valid number or contact",
    "pjl": "Fix the fax number the printing program writes into the print job",
    "embedded": "Fix the code in the document",
}


def _from_clue(
    rel_path: PurePosixPath, clue: Clue, region: str, contacts: Mapping[str, str]
) -> Address:
    try:
        numbers = parse_recipients(clue.recipients, region, contacts)
    except AddressError as exc:
        raise AddressError(
            f"{rel_path}: {clue.source} names no valid recipient: {exc.message}",
            f"{_CLUE_HINTS[clue.rule]} (E.164 like +46812345678, or national in region "
            f"{region}), or add a sidecar {rel_path.name}.yaml.",
        ) from None
    return Address(clue.rule, numbers, clue.source)
