"""What a printing program tells faxd about the recipient, decided without I/O.

Three sources, each turned into a `Clue` that addressing reads after the sidecar and the
recipient subfolder: a per-folder file-name pattern, the PJL header of a print-to-file job
(`@PJL SET FAXNUMBER`, `@PJL COMMENT FAX=…`, and codes in the job name or comments), and an
embedded code written in the document itself (`@@FAX +46 8 123 456 78@@`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from faxd.settings import DEFAULT_EMBEDDED_CODE

ClueRule = Literal["name", "pjl", "embedded"]
Language = Literal["postscript", "pdf", "pcl", "pclxl", "unknown"]

__all__ = ["DEFAULT_EMBEDDED_CODE", "Clue", "CodeSearch", "PjlHeader"]
GROUP = "to"
# A PJL header is short; anything longer without a language switch is not one.
MAX_PJL_HEADER = 64 * 1024
UEL = b"\x1b%-12345X"
PRINT_EXTENSIONS = frozenset({"ps", "prn", "pjl", "pcl", "eps"})

_PJL_LINE = re.compile(rb"@PJL[ \t]*([^\r\n]*)\r?\n?", re.IGNORECASE)
_PJL_SET = re.compile(r"^(SET|DEFAULT)\s+([A-Za-z][\w\-]*)\s*=\s*(.*)$", re.IGNORECASE)
_PJL_JOB = re.compile(r"^JOB(?:\s+NAME\s*=\s*(.*?))?(?:\s+(?:START|END|DISPLAY)\s*=.*)?$", re.I)
_PJL_ENTER = re.compile(r"^ENTER\s+LANGUAGE\s*=\s*([A-Za-z0-9]+)", re.IGNORECASE)
_PJL_COMMENT = re.compile(r"^COMMENT\b\s*(.*)$", re.IGNORECASE)
_COMMENT_FAX = re.compile(
    r"^(?:FAX|FAX[-_ ]?NUMBER|FAX[-_ ]?NUM|FAX[-_ ]?NO|FAX[-_ ]?TO)\s*[=:]\s*(.+)$", re.IGNORECASE
)
# Fax-number variables written by fax drivers and print-to-fax tools.
_FAX_VARIABLES = frozenset({"FAXNUMBER", "FAXNUM", "FAXNO", "FAXTO", "FAX", "FAXPHONENUMBER"})


@dataclass(frozen=True)
class Clue:
    """Recipients as written somewhere in a print job, and where."""

    rule: ClueRule
    recipients: str  # as written: numbers or contact names, ',' or ';' between several
    source: str  # for reports and `faxd explain`: "file name", "PJL SET FAXNUMBER", ...


@dataclass(frozen=True)
class PjlHeader:
    """The PJL commands before the page description, and where the payload lies."""

    language: str | None = None  # from @PJL ENTER LANGUAGE, upper case
    job_name: str | None = None
    comments: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # @PJL SET NAME=value, names upper case
    defaults: tuple[tuple[str, str], ...] = ()  # @PJL DEFAULT NAME=value: the printer's own
    payload_start: int = 0
    payload_end: int = 0


@dataclass(frozen=True)
class CodeSearch:
    """Embedded codes found in a text: the recipients, and the text without them."""

    recipients: tuple[str, ...] = ()
    cleaned: str = ""
    lines_removed: int = 0
    found: bool = field(default=False)


def compile_pattern(text: str) -> re.Pattern[str]:
    """A per-folder pattern with a named group `to`; ValueError says what is wrong."""
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression ({exc}).") from None
    if GROUP not in pattern.groupindex:
        raise ValueError(
            f"has no named group '{GROUP}': write the recipient part as (?P<{GROUP}>...)."
        )
    return pattern


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].strip()
    return value


def name_clue(pattern: str | None, name: str) -> Clue | None:
    """The file-name rule: the group `to` of the pattern searched in `name`."""
    if not pattern:
        return None
    match = re.search(pattern, name)
    if match is None or not (match.group(GROUP) or "").strip():
        return None
    return Clue("name", match.group(GROUP).strip(), f"file name pattern {pattern!r}")


def detect_language(head: bytes) -> Language:
    """The page description language of print data from its first bytes."""
    data = head.lstrip(b"\x04\x00\r\n\t ")
    if data.startswith(UEL):
        data = data[len(UEL) :].lstrip(b"\r\n\t ")
    if data[:4].upper() == b"@PJL":
        return "unknown"
    if data.startswith(b"%!") or data.startswith(b"\xc5\xd0\xd3\xc6"):
        return "postscript"
    if data.startswith(b"%PDF-"):
        return "pdf"
    if b") HP-PCL XL" in data[:64]:
        return "pclxl"
    if data[:1] == b"\x1b" and data[1:2] in (b"E", b"&", b"*", b"(", b")", b"%"):
        return "pcl"
    return "unknown"


def has_pjl(head: bytes) -> bool:
    data = head.lstrip(b"\x00\r\n\t ")
    if data.startswith(UEL):
        data = data[len(UEL) :].lstrip(b"\r\n\t ")
    return data[:4].upper() == b"@PJL"


def parse_pjl(data: bytes) -> PjlHeader:
    """The PJL header at the start of `data` (after the Universal Exit Language).

    The payload is what follows the header up to the next UEL (the job's end); data
    without a PJL header is all payload."""
    pos = 0
    view = data[: MAX_PJL_HEADER + len(UEL)]
    stripped = view.lstrip(b"\x00\r\n\t ")
    pos = len(view) - len(stripped)
    if stripped.startswith(UEL):
        pos += len(UEL)
    language: str | None = None
    job_name: str | None = None
    comments: list[str] = []
    variables: list[tuple[str, str]] = []
    defaults: list[tuple[str, str]] = []
    while pos < len(view):
        while pos < len(view) and view[pos : pos + 1] in (b"\r", b"\n", b" ", b"\t"):
            pos += 1
        match = _PJL_LINE.match(view, pos)
        if match is None:
            break
        pos = match.end()
        line = match.group(1).decode("latin-1").strip()
        if enter := _PJL_ENTER.match(line):
            language = enter.group(1).upper()
            break
        if comment := _PJL_COMMENT.match(line):
            comments.append(comment.group(1).strip())
        elif setting := _PJL_SET.match(line):
            name, value = setting.group(2).upper(), _unquote(setting.group(3))
            if setting.group(1).upper() == "DEFAULT":
                defaults.append((name, value))
                continue
            variables.append((name, value))
            if name == "JOBNAME" and value:
                job_name = value
        elif (job := _PJL_JOB.match(line)) and job.group(1):
            job_name = job_name or _unquote(job.group(1))
    end = data.find(UEL, pos)
    return PjlHeader(
        language=language,
        job_name=job_name,
        comments=tuple(comments),
        variables=tuple(variables),
        defaults=tuple(defaults),
        payload_start=pos,
        payload_end=len(data) if end < 0 else end,
    )


def pjl_language(header: PjlHeader, payload_head: bytes) -> Language:
    """What the payload is: PJL's ENTER LANGUAGE, else sniffed from its first bytes."""
    if header.language:
        named = header.language.upper()
        if named == "POSTSCRIPT":
            return "postscript"
        if named == "PDF":
            return "pdf"
        if named in ("PCL", "PCL5", "PCL5E", "PCL5C"):
            return "pcl"
        if named in ("PCLXL", "PCL6"):
            return "pclxl"
    return detect_language(payload_head)


def _code_matches(pattern: re.Pattern[str], text: str) -> list[str]:
    found: list[str] = []
    for match in pattern.finditer(text):
        value = " ".join((match.group(GROUP) or "").split())
        if value and value not in found:
            found.append(value)
    return found


def pjl_clue(header: PjlHeader, embedded_code: str | None, name_pattern: str | None) -> Clue | None:
    """The PJL rule: a fax-number variable, then `COMMENT FAX=…`, then an embedded code
    in the job name or a comment, then the file-name pattern applied to the job name."""
    # As the printer reads them: the job's last SET wins, and a DEFAULT (the printer's
    # setting, for jobs that set none) counts only when the job sets no fax number.
    for command, settings in (("SET", header.variables), ("DEFAULT", header.defaults)):
        for name, value in reversed(settings):
            if name.replace("_", "").replace("-", "") in _FAX_VARIABLES and value:
                return Clue("pjl", value, f"PJL {command} {name}")
    for comment in header.comments:
        if match := _COMMENT_FAX.match(comment):
            return Clue("pjl", _unquote(match.group(1)), "PJL COMMENT")
    if embedded_code:
        pattern = re.compile(embedded_code)
        for where, text in _pjl_texts(header):
            found = _code_matches(pattern, text)
            if found:
                return Clue("pjl", ", ".join(found), f"embedded code in PJL {where}")
    if name_pattern and header.job_name:
        clue = name_clue(name_pattern, header.job_name)
        if clue is not None:
            return Clue("pjl", clue.recipients, "PJL JOBNAME with the file name pattern")
    return None


def _pjl_texts(header: PjlHeader) -> Iterable[tuple[str, str]]:
    if header.job_name:
        yield "JOBNAME", header.job_name
    for comment in header.comments:
        yield "COMMENT", comment


def search_codes(embedded_code: str, text: str) -> CodeSearch:
    """Every embedded code in `text`, and the text with them taken out: a line that held
    nothing but codes is removed whole, other lines lose just the code."""
    pattern = re.compile(embedded_code)
    found = _code_matches(pattern, text)
    if not found:
        return CodeSearch(cleaned=text)
    kept: list[str] = []
    removed = 0
    for line in text.splitlines(keepends=True):
        if pattern.search(line) is None:
            kept.append(line)
            continue
        rest = pattern.sub("", line)
        if rest.strip():
            kept.append(rest)
        else:
            removed += 1
    return CodeSearch(tuple(found), "".join(kept), removed, True)


def embedded_clue(found: Sequence[str], where: str) -> Clue | None:
    if not found:
        return None
    return Clue("embedded", ", ".join(found), f"embedded code {where}")


def is_print_file(name: str) -> bool:
    """A print-to-file name faxd converts (PostScript, possibly behind PJL)."""
    return name.rsplit(".", 1)[-1].lower() in PRINT_EXTENSIONS if "." in name else False
