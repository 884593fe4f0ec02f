"""File names: never-clobber numbering, report names, safe names for remote input, and
the junk names a spool folder never picks up.

Pure string work: callers pass in names and a `taken` predicate; nothing here touches
the file system."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from faxd.core.preflight import KNOWN_TYPES
from faxd.core.print_clues import PRINT_EXTENSIONS
from faxd.errors import FaxdError

# Gives up rather than spin forever on a predicate that says everything is taken.
MAX_NUMBERED = 100_000
# Longest path component Linux file systems take, in bytes.
NAME_MAX = 255
REPORT_SUFFIX = ".report.yaml"
# A name cut to fit keeps this many characters of its end, after this mark.
_KEPT_END = 16
_CUT = "…"

# Office junk that is never a document. Compared lower case.
_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_IGNORED_SUFFIXES = (
    ".tmp",
    ".part",
    ".partial",  # browsers
    ".filepart",  # WinSCP uploads under this name, then renames
    ".crdownload",
    ".swp",
    "~",
    ".yaml",  # sidecars and reports
    ".yml",
)
# A report PDF is NAME.report.pdf for a document NAME, so its name holds the document's
# own extension: a filed set moved back into a spool folder must not fax its report to the
# recipient, while a document called `annual.report.pdf` is still one.
_REPORT_PDF_SUFFIX = ".report.pdf"
_DOCUMENT_EXTENSIONS = frozenset(KNOWN_TYPES) | PRINT_EXTENSIONS

# Characters Windows clients on an SMB share cannot show: the inbox is often such a share.
_SMB_UNSAFE = frozenset('<>:"|?*')
_FALLBACK = "document"
# Longest extension kept when a long name is cut; anything longer is treated as stem.
_MAX_EXTENSION = 16


def split_extension(name: str) -> tuple[str, str]:
    """("a.tar", ".gz") for "a.tar.gz"; ("README", "") and (".bashrc", "") have none."""
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return name, ""
    return name[:dot], name[dot:]


def numbered(name: str, n: int) -> str:
    """The n-th candidate for `name`: n=1 is the name itself, n=2 "a (2).pdf"."""
    if n < 1:
        raise ValueError(f"numbered() needs n >= 1, got {n}")
    return name if n == 1 else labelled(name, str(n))


def labelled(name: str, label: str) -> str:
    """The name "a (label).pdf" for "a.pdf", cut to fit NAME_MAX."""
    stem, ext = split_extension(name)
    suffix = f" ({label}){ext}"
    return cut_keeping_extensions(stem, NAME_MAX - name_bytes(suffix)) + suffix


def first_free(name: str, taken: Callable[[str], bool]) -> str:
    """`name`, else "name (2)", "name (3)" … : the first one `taken` says is free."""
    for n in range(1, MAX_NUMBERED + 1):
        candidate = numbered(name, n)
        if not taken(candidate):
            return candidate
    raise FaxdError(
        f"{name}: no free name after {MAX_NUMBERED} numbered tries.",
        "Clear out the destination folder; it holds far too many files of this name.",
    )


def report_name(document_name: str) -> str:
    """The report that sits beside a document in sent/ or failed/; a document name near
    NAME_MAX is cut so the report's own name still fits."""
    limit = NAME_MAX - name_bytes(REPORT_SUFFIX)
    return cut_keeping_extensions(document_name, limit) + REPORT_SUFFIX


def report_pdf_path(report_yaml: Path) -> Path:
    """NAME.report.pdf, drawn beside NAME.report.yaml."""
    return report_yaml.with_suffix(".pdf")


def name_bytes(name: str) -> int:
    """How many bytes `name` takes on disk (undecodable bytes count as one each)."""
    return len(name.encode("utf-8", errors="surrogateescape"))


def shorten_to(text: str, max_bytes: int) -> str:
    """`text` cut at a character boundary to at most `max_bytes` bytes on disk."""
    text = text[: max(0, max_bytes)]  # every character takes at least one byte
    while text and name_bytes(text) > max_bytes:
        text = text[:-1]
    return text


def cut_keeping_extensions(name: str, max_bytes: int) -> str:
    """`name` cut to `max_bytes` bytes before its last two extensions, so a shortened
    "long….pdf.report" still ends in ".pdf.report"."""
    if name_bytes(name) <= max_bytes:
        return name
    head, tail = name, ""
    for _ in range(2):
        stem, ext = split_extension(head)
        if not ext or len(ext) > _MAX_EXTENSION:
            break
        head, tail = stem, ext + tail
    room = max_bytes - name_bytes(tail)
    end = head[-_KEPT_END:]
    if len(head) > 2 * _KEPT_END and room > name_bytes(end) + name_bytes(_CUT) + _KEPT_END:
        # Cut in the middle: long names that differ only at the end ("scan … 0041")
        # stay told apart.
        cut = shorten_to(head[:-_KEPT_END], room - name_bytes(end + _CUT)) + _CUT + end
    else:
        cut = shorten_to(head, room)
    if not cut:
        return shorten_to(name, max_bytes)
    return cut + tail


def fits_name_max(name: str) -> bool:
    """Whether `name` can be one path component (NAME_MAX bytes) on Linux."""
    return name_bytes(name) <= NAME_MAX


def temp_name(name: str, tag: str) -> str:
    """A hidden temporary name for writing `name` (".NAME.TAG.tmp"), cut to fit NAME_MAX."""
    suffix = f".{tag}.tmp"
    return "." + shorten_to(name, NAME_MAX - 1 - name_bytes(suffix)) + suffix


def _clean_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category in ("Cc", "Zl", "Zp") or ch.isspace():
        return " "
    # Format characters (bidi overrides, zero-width joiners) can disguise an extension.
    if category == "Cf":
        return ""
    if ch in _SMB_UNSAFE or ch == "\ufffd":
        return "_"
    return ch


def _trim(text: str) -> str:
    # Leading dots hide a file, a leading '-' reads as an option to shell tools, and
    # Windows drops trailing dots and spaces.
    return text.lstrip(" .-").rstrip(" .")


def _fit(stem: str, ext: str, max_len: int, max_bytes: int) -> str:
    def fits(text: str) -> bool:
        return len(text) <= max_len and len(text.encode("utf-8")) <= max_bytes

    if fits(stem + ext):
        return stem + ext
    if len(ext) >= max_len // 2 or len(ext.encode("utf-8")) >= max_bytes // 2:
        stem, ext = stem + ext, ""
    while stem and not fits(stem + ext):
        stem = stem[:-1]
    stem = stem.rstrip(" .")
    return stem + ext


def safe_component(original: str | bytes, max_len: int = 120, *, max_bytes: int = 200) -> str:
    """A name from a remote party made safe to use as one path component.

    Keeps only the last path part, drops control and format characters, collapses
    whitespace, strips leading dots and dashes, and cuts the name to `max_len` characters
    and `max_bytes` UTF-8 bytes (NAME_MAX is 255 bytes, and faxd adds a prefix and
    suffixes), keeping the extension. Never empty, never "." or ".."; idempotent."""
    if max_len < 1 or max_bytes < 4:
        raise ValueError("safe_component() needs max_len >= 1 and max_bytes >= 4")
    if isinstance(original, str):
        # A name read from disk may carry undecodable bytes as lone surrogates.
        original = original.encode("utf-8", errors="surrogatepass")
    text = original.decode("utf-8", errors="replace")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(_clean_char(ch) for ch in text)
    text = unicodedata.normalize("NFC", text)
    text = _trim(" ".join(text.split()))
    if not text:
        text = _FALLBACK
    stem, ext = split_extension(text)
    if len(ext) > _MAX_EXTENSION:
        stem, ext = text, ""
    result = _trim(_fit(stem, ext, max_len, max_bytes))
    if not result:
        result = _trim(_fit(_FALLBACK, "", max_len, max_bytes)) or "d"
    return result


def sender_digits(sender: str, max_digits: int = 20) -> str:
    """The digits of a sender number, "unknown" when it has none."""
    digits = "".join(ch for ch in sender if ch in "0123456789")[:max_digits]
    return digits or "unknown"


def windows_key(name: str) -> str:
    """What `name` is as Windows compares names: the inbox is often an SMB share, where
    names differing only in case are one file (ß and SS, told apart by Windows, are
    folded too: a needless " (2)" is harmless), and a name composed another way looks the
    same to the user."""
    return unicodedata.normalize("NFC", name).casefold()


def inbox_name(received_at: datetime, sender: str, original: str | bytes) -> str:
    """ "YYYYMMDD-HHMMSS_SENDERDIGITS_SAFENAME", in received_at's own time zone."""
    t = received_at
    # strftime's %Y does not pad years before 1000 on every platform.
    stamp = f"{t.year:04d}{t.month:02d}{t.day:02d}-{t.hour:02d}{t.minute:02d}{t.second:02d}"
    return f"{stamp}_{sender_digits(sender)}_{safe_component(original)}"


def is_ignored_name(name: str) -> bool:
    """True for names a spool folder never picks up: hidden, junk, partial, sidecars."""
    return ignored_because(name) is not None


def ignored_because(name: str) -> str | None:
    """Why a spool folder never picks up `name` (for `faxd explain`), None if it does."""
    if not name or name[0] == ".":
        return "its name starts with '.': a hidden file"
    if name[0] == "~":
        return "its name starts with '~': an office program's lock or temporary file"
    lower = name.lower()
    if lower in _IGNORED_NAMES:
        return "it is a file the operating system keeps in folders"
    if lower.endswith(_REPORT_PDF_SUFFIX):
        _, extension = split_extension(lower[: -len(_REPORT_PDF_SUFFIX)])
        if extension[1:] in _DOCUMENT_EXTENSIONS:
            return "its name is a document's name and .report.pdf: a report, never a document"
    suffix = next((s for s in _IGNORED_SUFFIXES if lower.endswith(s)), None)
    if suffix is None:
        return None
    if suffix in (".yaml", ".yml"):
        return f"its name ends in {suffix}: a sidecar or a report, never a document"
    return f"its name ends in {suffix}: a file still being written or a temporary one"
