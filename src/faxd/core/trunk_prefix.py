"""An allow/deny prefix written with the trunk digit (`+460900` for +46 900) matches no
number: recipients are compared in E.164, which has no trunk digit (+46900…). Whether a
prefix is such a one is read from libphonenumber's metadata, not from a list of
countries: in some countries the trunk digit also begins real numbers (+7 800…, the 8 of
Belarus), and there the prefix is a real one.

Python's `re` cannot say whether a text could be the start of a match, so the metadata's
number patterns are read here: they use digits, classes, `\\d`, groups, `|`, `?` and
counted repeats only. A pattern with anything else counts as one any digits may start."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

DIGITS = frozenset("0123456789")


@dataclass(frozen=True)
class TrunkPrefix:
    code: str  # the country code
    trunk: str  # the national (trunk) prefix the digits after it begin with
    rest: str  # the digits after the country code, as written

    @property
    def meant(self) -> str | None:
        """The prefix without the trunk digits, when the whole trunk prefix was written."""
        return (
            f"+{self.code}{self.rest[len(self.trunk) :]}"
            if self.rest.startswith(self.trunk)
            else None
        )


def trunk_prefix(prefix: str) -> TrunkPrefix | None:
    """For an E.164 prefix (`+460900`) whose digits after the country code begin with that
    country's trunk prefix, and with which no valid number of the country begins: what
    it holds. None for any other prefix (one that may match)."""
    digits = prefix.removeprefix("+")
    for length in (1, 2, 3):
        code, rest = digits[:length], digits[length:]
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(code), ()) if code.isdigit() else ()
        if not regions:
            continue
        if not rest:
            return None
        metadata = [
            meta
            for meta in map(phonenumbers.PhoneMetadata.metadata_for_region, regions)
            if meta is not None
        ]
        trunks = {meta.national_prefix for meta in metadata if meta.national_prefix}
        # The trunk prefix, or the start of a longer one (Hungary's 06).
        written = [t for t in sorted(trunks) if rest[: len(t)] == t[: len(rest)]]
        if not written:
            return None
        patterns = [
            meta.general_desc.national_number_pattern
            for meta in metadata
            if meta.general_desc is not None and meta.general_desc.national_number_pattern
        ]
        if any(may_start(pattern, rest) for pattern in patterns):
            return None
        return TrunkPrefix(code, written[0], rest)
    return None


# -- does some number the pattern matches begin with these digits ------------------------


@dataclass(frozen=True)
class _Set:
    digits: frozenset[str]


@dataclass(frozen=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Alt:
    branches: tuple[_Node, ...]


@dataclass(frozen=True)
class _Rep:
    inner: _Node
    least: int
    most: int | None  # None: unbounded


_Node = _Set | _Seq | _Alt | _Rep


class _Unreadable(Exception):
    pass


def may_start(pattern: str, digits: str) -> bool:
    """Whether some digit string `pattern` matches whole begins with `digits`."""
    try:
        node, end = _alternatives(pattern, 0)
        if end != len(pattern):
            raise _Unreadable
    except (_Unreadable, IndexError, ValueError):
        return True  # not read: taken to match, so no prefix is refused for it
    return len(digits) in _ends(node, digits, 0)


def _alternatives(text: str, i: int) -> tuple[_Node, int]:
    branches = []
    while True:
        branch, i = _sequence(text, i)
        branches.append(branch)
        if i < len(text) and text[i] == "|":
            i += 1
            continue
        return _Alt(tuple(branches)), i


def _sequence(text: str, i: int) -> tuple[_Node, int]:
    items = []
    while i < len(text) and text[i] not in "|)":
        atom, i = _atom(text, i)
        atom, i = _repeat(atom, text, i)
        items.append(atom)
    return _Seq(tuple(items)), i


def _atom(text: str, i: int) -> tuple[_Node, int]:
    char = text[i]
    if char in DIGITS:
        return _Set(frozenset(char)), i + 1
    if text.startswith("\\d", i):
        return _Set(DIGITS), i + 2
    if char == "[":
        end = text.index("]", i)
        return _Set(_digit_class(text[i + 1 : end])), end + 1
    if char == "(":
        i += 3 if text.startswith("(?:", i) else 1
        inner, i = _alternatives(text, i)
        if text[i] != ")":
            raise _Unreadable
        return inner, i + 1
    raise _Unreadable


def _digit_class(body: str) -> frozenset[str]:
    found: set[str] = set()
    i = 0
    while i < len(body):
        if body.startswith("\\d", i):
            found |= DIGITS
            i += 2
        elif i + 2 < len(body) and body[i + 1] == "-":
            low, high = body[i], body[i + 2]
            if low not in DIGITS or high not in DIGITS:
                raise _Unreadable
            found |= {str(d) for d in range(int(low), int(high) + 1)}
            i += 3
        elif body[i] in DIGITS:
            found.add(body[i])
            i += 1
        else:
            raise _Unreadable  # a negated class, a letter: not a phone number pattern
    return frozenset(found)


def _repeat(atom: _Node, text: str, i: int) -> tuple[_Node, int]:
    if i >= len(text):
        return atom, i
    if text[i] == "?":
        return _Rep(atom, 0, 1), i + 1
    if text[i] in "*+":
        return _Rep(atom, int(text[i] == "+"), None), i + 1
    if text[i] != "{":
        return atom, i
    end = text.index("}", i)
    low, comma, high = text[i + 1 : end].partition(",")
    most = int(high) if high else (None if comma else int(low))
    return _Rep(atom, int(low), most), end + 1


def _ends(node: _Node, digits: str, i: int) -> set[int]:
    """Where a match of `node` from `i` in `digits` may end; the end of `digits` counts
    as reached by any node that starts there (the number goes on beyond the prefix)."""
    size = len(digits)
    if i == size:
        return {size}
    if isinstance(node, _Set):
        return {i + 1} if digits[i] in node.digits else set()
    if isinstance(node, _Alt):
        return set().union(*(_ends(branch, digits, i) for branch in node.branches))
    if isinstance(node, _Seq):
        places = {i}
        for item in node.items:
            places = set().union(*(_ends(item, digits, p) for p in places))
            if not places:
                break
        return places
    limit = node.least + size + 1 if node.most is None else node.most
    places, found = {i}, set()
    for count in range(limit + 1):
        if count >= node.least:
            found |= places
        if count == limit or not places:
            break
        places = set().union(*(_ends(node.inner, digits, p) for p in places))
    return found
