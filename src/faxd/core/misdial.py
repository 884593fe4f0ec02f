"""The misdial guard's rule: is a recipient one slip of the finger away from a number
faxd knows (a contact, or a number it has delivered to) without being one itself?

A slip is one digit changed, added or dropped, or two neighbouring digits swapped, in
the national part of an E.164 number. The country code is left alone: a number is never
"near" one of another country, so +46… and +45… numbers are not confused.

How it stays fast with 100,000 known numbers: digits are a ten-letter alphabet, so the
one-slip neighbourhood of an n-digit number has about 20·n members (9·n changed,
10·(n+1) added, n dropped, n-1 swapped: under 330 for the longest E.164 number).
Probing those in a hash index of known numbers costs the same whether it holds a hundred
numbers or a million, and the index stores each number once (a symmetric-delete index
would store n+1 keys per number for the same answer)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

Edit = Literal["changed", "added", "dropped", "swapped"]
NewNumbers = Literal["send", "hold"]
# Which of the given numbers faxd knows (delivered to, or released by an admin).
KnownLookup = Callable[[Collection[str]], Collection[str]]

_COUNTRY_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)
_DIGITS = "0123456789"
_EDIT_WORDS: dict[Edit, str] = {
    "changed": "one digit changed",
    "added": "one digit added",
    "dropped": "one digit dropped",
    "swapped": "two neighbouring digits swapped",
}
_SHOWN = 3  # suggestions named in one sentence


def split_country(e164: str) -> tuple[str, str] | None:
    """`+46812345678` -> (`+46`, `812345678`); None when it is not E.164.

    Country calling codes are a prefix code (no code starts another), so the first
    one to three digits that form a known code are the code."""
    if not e164.startswith("+") or not e164[1:].isdigit():
        return None
    for length in (1, 2, 3):
        code = e164[1 : 1 + length]
        if code in _COUNTRY_CODES:
            national = e164[1 + length :]
            return (f"+{code}", national) if national else None
    return None


def neighbours(e164: str) -> dict[str, Edit]:
    """Every number one slip away from `e164` in its national part, with the slip.

    The number itself is never among them (swapping two equal digits gives it back)."""
    parts = split_country(e164)
    if parts is None:
        return {}
    prefix, national = parts
    found: dict[str, Edit] = {}

    def add(candidate: str, edit: Edit) -> None:
        if candidate and candidate != national:
            found.setdefault(prefix + candidate, edit)

    for i, digit in enumerate(national):
        for other in _DIGITS:
            if other != digit:
                add(national[:i] + other + national[i + 1 :], "changed")
        add(national[:i] + national[i + 1 :], "dropped")
        if i + 1 < len(national) and national[i + 1] != digit:
            add(national[:i] + national[i + 1] + digit + national[i + 2 :], "swapped")
    for i in range(len(national) + 1):
        for other in _DIGITS:
            add(national[:i] + other + national[i:], "added")
    return found


def contact_index(contacts: Mapping[str, str]) -> dict[str, str]:
    """Number -> the contact name to suggest for it (the first name in sort order when
    several names share a number, so suggestions do not change from run to run)."""
    index: dict[str, str] = {}
    for name in sorted(contacts, key=lambda n: (n.casefold(), n)):
        index.setdefault(contacts[name], name)
    return index


@dataclass(frozen=True)
class Near:
    """A known number one slip away from the recipient."""

    number: str
    edit: Edit
    contact: str | None  # the contact's name; None for a number only delivered to

    @property
    def shown(self) -> str:
        if self.contact is not None:
            return f"{self.contact}, {self.number}"
        return f"{self.number} (delivered to before)"


@dataclass(frozen=True)
class Verdict:
    """What the guard makes of one recipient: send it, or hold it and why."""

    number: str
    hold: Literal["near", "new"] | None
    near: tuple[Near, ...] = ()

    @property
    def reason(self) -> str | None:
        """One sentence for the report; None when the number may be sent."""
        if self.hold == "near":
            first = self.near[0]
            others = [n.shown for n in self.near[1:_SHOWN]]
            guess = first.shown + "".join(f", or {o}" for o in others)
            more = len(self.near) - _SHOWN
            tail = f" ({more} more near numbers not shown)" if more > 0 else ""
            return (
                f"{self.number} is neither a contact nor a number faxd has delivered to, but "
                f"it is one slip ({_EDIT_WORDS[first.edit]}) from {first.shown}: "
                f"did you mean {guess}?{tail}"
            )
        if self.hold == "new":
            return (
                f"{self.number} is neither a contact nor a number faxd has delivered to, "
                "and new numbers are held (new_numbers: hold)."
            )
        return None


def check(
    number: str,
    by_number: Mapping[str, str],
    known: KnownLookup,
    *,
    guard: bool = True,
    new_numbers: NewNumbers = "send",
) -> Verdict:
    """The verdict on one E.164 recipient.

    `by_number` maps contacts' numbers to names (see `contact_index`); `known` answers which of the
    numbers it is given faxd has delivered to or was told to trust. A number that is a
    contact or known itself is sent, however near it is to another."""
    if number in by_number:
        return Verdict(number, None)
    candidates = neighbours(number) if guard else {}
    found = set(known([number, *candidates]))
    if number in found:
        return Verdict(number, None)
    near = [
        Near(candidate, edit, by_number.get(candidate))
        for candidate, edit in candidates.items()
        if candidate in by_number or candidate in found
    ]
    if near:
        # Contacts first: a name is the likelier intent than a number once faxed.
        near.sort(key=lambda n: (n.contact is None, n.contact or "", n.number))
        return Verdict(number, "near", tuple(near))
    if new_numbers == "hold":
        return Verdict(number, "new")
    return Verdict(number, None)


def refused_by(number: str, allow: Collection[str], deny: Collection[str]) -> str | None:
    """Why the folder's `allow`/`deny` prefixes refuse `number`; None when they let it pass.

    `deny` wins over `allow`: a number inside both is refused."""
    for prefix in sorted(deny, key=len, reverse=True):
        if number.startswith(prefix):
            return f"{number} is refused by the deny rule '{prefix}' (numbers starting with it)."
    if allow and not any(number.startswith(prefix) for prefix in allow):
        listed = ", ".join(f"'{p}'" for p in allow)
        return f"{number} is refused: it starts with none of the allow rules ({listed})."
    return None
