"""`contacts_file:` — an address book as an office program exports it, read into contacts.

Two formats, told apart by the content (a vCard starts with BEGIN:VCARD):

- CSV, UTF-8 with or without a byte-order mark (also UTF-16 with one), `,` or `;`
  between fields (Excel writes `;` where the decimal comma is local), an optional
  header row. Without a header, or with two columns, the first column is the name and
  the second the number. With a header, the name comes from a column called name (Name,
  Full Name, Namn …), else First/Middle/Last Name, else the organisation (Organization
  Name, Company, File As); the numbers from columns whose header says fax (Fax, Business
  Fax, Telefax …) and Google Contacts' `Phone N - Label`/`Phone N - Value` pairs whose
  label says fax (several numbers in one value are separated by ` ::: `), else from a
  column called number.
  Rows of a many-column address book without a fax number are skipped.
- vCard 2.1, 3.0 and 4.0: one contact per `TEL` whose type includes `fax`, named by FN
  (else N, else ORG). Folded lines are unfolded. Cards without a fax number are skipped.

A name with several fax numbers keeps the plain name for the preferred one (`pref`,
else the first); each further one gets the name with a suffix from its type or column:
`Acme AB (home fax)`, or `Acme AB (fax 2)` when there is nothing to tell them apart.

Every problem is returned with its line in the file, so `faxd check-config` can name it."""

from __future__ import annotations

import csv
import io
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from faxd.config.values import contact_name_problem, parse_number
from faxd.host.setting_files import read_setting_file

MAX_PROBLEMS = 20
_NAME_HEADERS = (
    "name",
    "full name",
    "display name",
    "namn",
    "navn",
    "nimi",
    "contact",
    "kontakt",
)
_ORGANISATION_HEADERS = (
    "organization name",
    "organization 1 - name",
    "company",
    "firma",
    "företag",
    "organisation",
    "file as",
)
_NUMBER_HEADERS = (
    "number",
    "fax number",
    "faxnummer",
    "nummer",
    "telefon",
    "phone",
    "phone number",
)
_GIVEN_HEADERS = ("first name", "given name", "förnamn")
_MIDDLE_HEADERS = ("middle name", "additional name")
_FAMILY_HEADERS = ("last name", "family name", "efternamn")
_GOOGLE_PHONE = re.compile(r"^phone (\d+) - (label|type|value)$")
_NUMBER_LIKE = re.compile(r"^[+\d\s().\-/]*\d[\d\s().\-/]*$")


@dataclass
class ContactsFile:
    """What a contacts file holds: name -> E.164, and every problem with its line."""

    contacts: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[int | None, str]] = field(default_factory=list)
    _lines: dict[str, int] = field(default_factory=dict)

    def problem(self, line: int | None, message: str) -> None:
        self.problems.append((line, message))

    def add(self, name: str, numbers: list[tuple[str, str, bool, int]], region: str) -> None:
        """Contacts for `name` from (written number, label, preferred, line) entries."""
        parsed: list[tuple[str, str, bool, int]] = []
        for written, label, preferred, line in numbers:
            try:
                parsed.append((parse_number(written, region), label, preferred, line))
            except ValueError as exc:
                self.problem(line, f"{name}: {exc}")
        parsed.sort(key=lambda item: not item[2])  # the preferred number keeps the plain name
        taken: set[str] = set()
        seen: set[str] = set()
        for number, label, _, line in parsed:
            if number in seen:
                continue
            seen.add(number)
            if not taken:
                key = name
            else:
                key = f"{name} ({label})" if label else f"{name} (fax {len(seen)})"
                count = 2
                while key in taken:
                    key = f"{name} ({label or 'fax'} {count})"
                    count += 1
            taken.add(key)
            shadowing = contact_name_problem(key, number, region)
            if shadowing is not None:
                self.problem(line, shadowing)
                continue
            self._set(key, number, line)

    def _set(self, name: str, number: str, line: int) -> None:
        if name in self.contacts:
            if self.contacts[name] != number:
                self.problem(
                    line,
                    f"the name '{name}' is used again (first on line {self._lines[name]}) with "
                    "another number; contacts need names of their own.",
                )
            return
        self.contacts[name] = number
        self._lines[name] = line


def read_contacts_file(path: Path, region: str) -> ContactsFile:
    """The contacts in `path`; a file that cannot be read is one problem without a line."""
    found = ContactsFile()
    try:
        raw = read_setting_file(path)
    except FileNotFoundError:
        found.problem(None, f"{path} does not exist; create it or correct the path.")
        return found
    except IsADirectoryError:
        found.problem(None, f"{path} is a directory; name the CSV or vCard file itself.")
        return found
    except OSError as exc:
        found.problem(
            None, f"{path} cannot be read ({exc.strerror}); name a CSV or vCard file faxd may read."
        )
        return found
    text = _decode(raw)
    if text is None:
        found.problem(
            None,
            f"{path} is not UTF-8 text; export it as 'CSV UTF-8' (Excel) or as vCard "
            "(which is UTF-8).",
        )
        return found
    return parse_contacts_text(text, region)


def _decode(raw: bytes) -> str | None:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def parse_contacts_text(text: str, region: str) -> ContactsFile:
    """Contacts from the text of a CSV or vCard file (format told by the content)."""
    if text.lstrip().upper().startswith("BEGIN:VCARD"):
        return _parse_vcard(text, region)
    return _parse_csv(text, region)


# -- CSV -------------------------------------------------------------------------------


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    for row in reader:
        yield start, [cell.strip() for cell in row]
        start = reader.line_num + 1


def _delimiter(lines: list[str]) -> str:
    first = next((line for line in lines if line.strip()), "")
    return ";" if first.count(";") > first.count(",") else ","


def _parse_csv(text: str, region: str) -> ContactsFile:
    found = ContactsFile()
    lines = text.splitlines()
    delimiter = _delimiter(lines)
    skip_first = False
    if lines and re.fullmatch(r"\s*sep=(.)\s*", lines[0], re.IGNORECASE):
        # Excel's own hint line: `sep=;` says which delimiter the rest uses.
        delimiter = lines[0].strip()[4]
        skip_first = True
    rows = [(n, row) for n, row in _rows(text, delimiter) if any(row)]
    if skip_first and rows and rows[0][0] == 1:
        rows = rows[1:]
    if not rows:
        return found
    header_line, first = rows[0]
    if any(_NUMBER_LIKE.match(cell) for cell in first if cell):
        layout = _Layout(name=[0], numbers=[(1, None, "")], strict=True)
    else:
        found_layout = _layout(first)
        rows = rows[1:]
        if found_layout is None:
            found.problem(
                header_line,
                "no column for the fax number: name one 'Number' or 'Fax' in the header row "
                "(or leave the header out and put name, number in the first two columns).",
            )
            return found
        layout = found_layout
    for line, row in rows:
        _csv_row(found, layout, line, row, region)
        if len(found.problems) > MAX_PROBLEMS:
            break
    return found


@dataclass(frozen=True)
class _Layout:
    name: list[int]  # columns joined with a space (first, middle, last)
    numbers: list[tuple[int, int | None, str]]  # value column, label column, fixed label
    strict: bool  # a two-column list: every row must have a number
    fallback_name: int | None = None  # the organisation, when the person's name is empty


def _find(headers: list[str], wanted: tuple[str, ...]) -> int | None:
    for candidate in wanted:
        if candidate in headers:
            return headers.index(candidate)
    return None


def _layout(header: list[str]) -> _Layout | None:
    headers = [cell.casefold() for cell in header]
    if len(headers) == 2:
        return _Layout(name=[0], numbers=[(1, None, "")], strict=True)
    numbers: list[tuple[int, int | None, str]] = []
    labels: dict[str, int] = {}
    values: dict[str, int] = {}
    for index, cell in enumerate(headers):
        match = _GOOGLE_PHONE.match(cell)
        if match and match.group(2) == "value":
            values[match.group(1)] = index
        elif match:
            labels[match.group(1)] = index
        elif "fax" in cell:
            numbers.append((index, None, _label(header[index])))
    for key, index in values.items():
        numbers.append((index, labels.get(key), ""))
    strict = False
    if not numbers:
        column = _find(headers, _NUMBER_HEADERS)
        if column is None:
            return None
        numbers.append((column, None, ""))
        strict = True
    name = _find(headers, _NAME_HEADERS)
    organisation = _find(headers, _ORGANISATION_HEADERS)
    if name is not None:
        return _Layout([name], numbers, strict, organisation)
    parts = [
        column
        for column in (
            _find(headers, _GIVEN_HEADERS),
            _find(headers, _MIDDLE_HEADERS),
            _find(headers, _FAMILY_HEADERS),
        )
        if column is not None
    ]
    if parts:
        return _Layout(parts, numbers, strict, organisation)
    return _Layout([organisation if organisation is not None else 0], numbers, strict)


def _label(header: str) -> str:
    """`Business Fax` -> `business fax`: the suffix of a further number from this column."""
    return " ".join(header.split()).casefold()


def _cell(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""


def _csv_row(found: ContactsFile, layout: _Layout, line: int, row: list[str], region: str) -> None:
    name = " ".join(part for part in (_cell(row, i) for i in layout.name) if part)
    if not name and layout.fallback_name is not None:
        name = _cell(row, layout.fallback_name)
    numbers: list[tuple[str, str, bool, int]] = []
    for value_column, label_column, fixed in layout.numbers:
        value = _cell(row, value_column)
        if not value:
            continue
        label = fixed
        if label_column is not None:
            label = _label(_cell(row, label_column).lstrip("* "))
            if "fax" not in label:
                continue  # a Google phone entry that is not a fax number
        for part in value.split(":::"):
            if part.strip():
                numbers.append((part.strip(), label, False, line))
    if not numbers:
        if layout.strict:
            found.problem(line, f"'{name or row[0]}' has no number; add one or remove the row.")
        return
    if not name:
        found.problem(line, "a contact needs a name; fill in the name column.")
        return
    found.add(name, numbers, region)


# -- vCard -----------------------------------------------------------------------------


@dataclass
class _Card:
    line: int
    fn: str = ""
    n: str = ""
    org: str = ""
    tels: list[tuple[str, str, bool, int]] = field(default_factory=list)  # value, label, pref, line


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Unfolded lines with the line each starts on. RFC 6350: a line starting with a
    space or tab continues the previous one; vCard 2.1 quoted-printable values continue
    after a line ending in `=`."""
    current: str | None = None
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if current is not None and raw[:1] in (" ", "\t"):
            current += raw[1:]
            continue
        if (
            current is not None
            and current.endswith("=")
            and "QUOTED-PRINTABLE" in current.split(":", 1)[0].upper()
        ):
            current = current[:-1] + raw
            continue
        if current is not None:
            yield start, current
        current, start = raw, number
    if current is not None:
        yield start, current


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\,;nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _parse_vcard(text: str, region: str) -> ContactsFile:
    found = ContactsFile()
    card: _Card | None = None
    for line, content in _logical_lines(text):
        if not content.strip():
            continue
        head, colon, value = _colon_split(content)
        if not colon:
            found.problem(line, "not a vCard line (no ':'); the file may be damaged.")
            continue
        params = _split_outside_quotes(head, ";")
        prop = params[0].rsplit(".", 1)[-1].upper()  # `item1.TEL` (Apple groups)
        if prop == "BEGIN" and value.strip().upper() == "VCARD":
            if card is not None:
                found.problem(card.line, "a card without END:VCARD; the file may be cut short.")
            card = _Card(line)
            continue
        if card is None:
            continue
        if prop == "END":
            _finish_card(found, card, region)
            card = None
            continue
        value = _decoded(params[1:], value)
        if prop == "FN":
            card.fn = _unescape(value).strip()
        elif prop == "N":
            parts = [_unescape(p).strip() for p in _split_n(value)]
            given = parts[1] if len(parts) > 1 else ""
            card.n = " ".join(p for p in (given, parts[0]) if p)
        elif prop == "ORG":
            card.org = _unescape(_split_n(value)[0]).strip()
        elif prop == "TEL":
            types, preferred = _types(params[1:])
            if "fax" in types:
                number = value.strip()
                if number.lower().startswith("tel:"):
                    number = number[4:].split(";", 1)[0]
                label = " ".join(t for t in sorted(types) if t not in ("fax", "voice", "pref"))
                card.tels.append((number, f"{label} fax" if label else "", preferred, line))
        if len(found.problems) > MAX_PROBLEMS:
            break
    if card is not None:
        found.problem(card.line, "a card without END:VCARD; the file may be cut short.")
    return found


def _colon_split(content: str) -> tuple[str, str, str]:
    quoted = False
    for index, char in enumerate(content):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return content[:index], ":", content[index + 1 :]
    return content, "", ""


def _split_n(value: str) -> list[str]:
    return re.split(r"(?<!\\);", value)


def _decoded(params: list[str], value: str) -> str:
    upper = [p.upper() for p in params]
    if "ENCODING=QUOTED-PRINTABLE" in upper or "QUOTED-PRINTABLE" in upper:
        charset = "utf-8"
        for p in params:
            if p.upper().startswith("CHARSET="):
                charset = p.split("=", 1)[1]
        try:
            return quopri.decodestring(value.encode("latin-1", "replace")).decode(
                charset, "replace"
            )
        except LookupError:
            return value
    return value


def _types(params: list[str]) -> tuple[set[str], bool]:
    """TYPE values in every spelling: `TYPE=work,fax`, `type=WORK;type=FAX`, bare
    `WORK;FAX` (2.1), `TYPE="work,fax"` (4.0); preferred by `pref` or `PREF=1`."""
    types: set[str] = set()
    preferred = False
    for param in params:
        key, equals, value = param.partition("=")
        if not equals:
            types.add(key.strip().lower())
            continue
        key = key.strip().upper()
        if key == "TYPE":
            types.update(t.strip().strip('"').lower() for t in value.strip('"').split(","))
        elif key == "PREF":
            preferred = True
    if "pref" in types:
        preferred = True
    return types, preferred


def _finish_card(found: ContactsFile, card: _Card, region: str) -> None:
    if not card.tels:
        return  # an address book entry without a fax number: nothing to fax
    name = card.fn or card.n or card.org
    if not name:
        found.problem(card.line, "a card with a fax number but no name (FN, N or ORG).")
        return
    found.add(name, card.tels, region)
