"""What a provider would refuse, found before any upload.

Callers read the facts (size, first 8 KiB, last 1 KiB) and pass them in; this module
only decides. The MIME type is sniffed from the content, never guessed from the name:
Generic DOCS validates both the extension and the MIME type.

Sniffing uses the `filetype` package (pure Python, no libmagic) for binary formats; it
tells OOXML docx/xlsx/pptx and OLE doc/xls/ppt apart. Small explicit checks cover what
it lacks: plain text and HTML, PCX, PDFs with a short preamble, and the Office files it
cannot classify from the first bytes alone."""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass

import filetype  # type: ignore[import-untyped]

from faxd.model import Limits

HEAD_SIZE = 8192
TAIL_SIZE = 1024
MIB = 1024 * 1024
# The DOCS page says "16 MB" without saying whether it means 16,000,000 or 16 MiB
# (16,777,216) bytes; the lower reading is the one no server refuses.
MAX_FILE_SIZE = 16_000_000

PDF = "application/pdf"
TEXT = "text/plain"
HTML = "text/html"
# IANA's name. The DOCS table lists pcx without a MIME type, so no type faxd could send
# for it is known to pass: the Generic DOCS provider sends PCX converted to PNG.
PCX = "image/vnd.zbrush.pcx"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OLE = "application/x-ole-storage"
ZIP = "application/zip"

# Every extension faxd knows: the MIME type it sends, then others the content may carry.
_TYPES: dict[str, tuple[str, ...]] = {
    "pdf": (PDF,),
    "doc": (DOC,),
    "docx": (DOCX,),
    "xls": (XLS,),
    "xlsx": (XLSX,),
    "ppt": (PPT,),
    "pptx": (PPTX,),
    "txt": (TEXT,),
    "htm": (HTML,),
    "html": (HTML,),
    "bmp": ("image/bmp",),
    "gif": ("image/gif",),
    "jpg": ("image/jpeg", "image/pjpeg"),
    "jpeg": ("image/jpeg", "image/pjpeg"),
    "png": ("image/png", "image/x-png"),
    "tif": ("image/tiff",),
    "tiff": ("image/tiff",),
    "pcx": (PCX, "image/x-pcx"),
}
PRIMARY_MIME: dict[str, str] = {ext: mimes[0] for ext, mimes in _TYPES.items()}
KNOWN_TYPES: dict[str, frozenset[str]] = {ext: frozenset(mimes) for ext, mimes in _TYPES.items()}

_DESCRIPTIONS = {
    PDF: "a PDF document",
    TEXT: "plain text",
    HTML: "an HTML page",
    PCX: "a PCX image",
    DOC: "a Word document (.doc)",
    DOCX: "a Word document (.docx)",
    XLS: "an Excel workbook (.xls)",
    XLSX: "an Excel workbook (.xlsx)",
    PPT: "a PowerPoint presentation (.ppt)",
    PPTX: "a PowerPoint presentation (.pptx)",
    OLE: "an Office 97-2003 file of unknown kind",
    ZIP: "a ZIP archive",
    "image/bmp": "a BMP image",
    "image/gif": "a GIF image",
    "image/jpeg": "a JPEG image",
    "image/png": "a PNG image",
    "image/tiff": "a TIFF image",
    "application/vnd.oasis.opendocument.text": "an OpenDocument text (.odt)",
    "application/vnd.oasis.opendocument.spreadsheet": "an OpenDocument spreadsheet (.ods)",
    "application/vnd.oasis.opendocument.presentation": "an OpenDocument presentation (.odp)",
}

_EXTENSION_FOR = {
    PDF: "pdf",
    TEXT: "txt",
    HTML: "html",
    PCX: "pcx",
    DOC: "doc",
    DOCX: "docx",
    XLS: "xls",
    XLSX: "xlsx",
    PPT: "ppt",
    PPTX: "pptx",
    "image/bmp": "bmp",
    "image/gif": "gif",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/tiff": "tif",
}

_TEXT_EXTENSIONS = frozenset({"txt", "htm", "html"})
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Control bytes that occur in ordinary text files: tab, newlines, form feed, backspace
# (overstrike on old line printers) and DOS's end-of-file mark.
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c\x08\x1a")
_HTML_START = re.compile(rb"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)
_ANY_TAG = re.compile(rb"<(?:[a-z][a-z0-9]*|/[a-z][a-z0-9]*|!doctype)[\s>/]", re.I)
_OOXML_PARTS = ((b"word/", DOCX), (b"xl/", XLSX), (b"ppt/", PPTX))


@dataclass(frozen=True)
class FileFacts:
    name: str
    size: int
    head: bytes  # the first 8 KiB (HEAD_SIZE)
    tail: bytes  # the last 1 KiB (TAIL_SIZE)


def extension_of(name: str) -> str:
    """The lower-case extension without its dot; "" when the name has none."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def extension_for(mime: str) -> str | None:
    """The extension a file of type `mime` is given ("tif" for a TIFF); None if faxd
    knows none."""
    return _EXTENSION_FOR.get(mime)


def describe_mime(mime: str) -> str:
    """A short description for messages ("a JPEG image"), the MIME type if unknown."""
    return _DESCRIPTIONS.get(mime, f"a file of type {mime}")


def text_encoding(head: bytes) -> str | None:
    """The encoding if `head` reads as text ("UTF-8", "UTF-16", "Windows-1252"), else None."""
    if head.startswith(_UTF16_BOMS):
        return "UTF-16"
    if b"\0" in head:
        return None
    body = head.removeprefix(_UTF8_BOM)
    controls = sum(1 for byte in body if byte < 0x20 and byte not in _TEXT_CONTROLS)
    if controls * 100 > len(body):
        return None
    try:
        # Incremental, so that a character cut at the 8 KiB boundary is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return "Windows-1252"
    return "UTF-8"


def _pdf(head: bytes) -> bool:
    # Acrobat accepts up to 1 KiB of junk (a PJL header, a BOM) before the signature.
    return b"%PDF-" in head[:1024]


def _pcx(head: bytes) -> bool:
    return (
        len(head) >= 128
        and head[0] == 0x0A
        and head[1] in (0, 2, 3, 4, 5)
        and head[2] in (0, 1)
        and head[3] in (1, 2, 4, 8)
    )


def _ooxml(head: bytes, ext: str) -> str:
    # The part that comes first names the kind: a presentation may embed a workbook.
    found = [(head.find(marker), mime) for marker, mime in _OOXML_PARTS if marker in head]
    if found:
        return min(found)[1]
    if b"[Content_Types].xml" in head and ext in ("docx", "xlsx", "pptx"):
        # An Office file whose telling part lies beyond the first 8 KiB.
        return PRIMARY_MIME[ext]
    return ZIP


def _text(head: bytes, ext: str) -> str | None:
    if text_encoding(head) is None:
        return None
    if ext in ("htm", "html"):
        return HTML if _ANY_TAG.search(head) else TEXT
    if ext != "txt" and _HTML_START.match(head.removeprefix(_UTF8_BOM)):
        return HTML
    return TEXT


def sniff_mime(head: bytes, extension: str) -> str | None:
    """The MIME type of the content in `head`; None if it is none faxd recognises.

    `extension` only settles what content alone cannot: text versus HTML, and Office
    files whose kind lies beyond `head`. It never turns one format into another."""
    ext = extension.lower().lstrip(".")
    if not head:
        return None
    # Text first for text files: a letter that begins "BM" is not a bitmap, and one that
    # mentions "%PDF-" is not a PDF.
    if ext in _TEXT_EXTENSIONS:
        text = _text(head, ext)
        if text is not None:
            return text
    if head.startswith(b"%PDF-"):
        return PDF
    kind = filetype.guess(head)
    if kind is not None and kind.mime != ZIP:
        return str(kind.mime)
    if head.startswith(_ZIP_MAGIC):
        # filetype looks at the first few parts only; Office files often put theirs later.
        return _ooxml(head, ext)
    if _pdf(head):
        return PDF
    if head.startswith(_OLE_MAGIC):
        return PRIMARY_MIME[ext] if ext in ("doc", "xls", "ppt") else OLE
    if _pcx(head):
        return PCX
    return _text(head, ext)


def mime_for_upload(facts: FileFacts) -> str:
    """The Content-Type of the file's multipart part: sniffed, never from the name."""
    return sniff_mime(facts.head, extension_of(facts.name)) or "application/octet-stream"


def format_size(size: int) -> str:
    """Exact bytes, with a rounded decimal MB for large sizes: "16,000,001 bytes (16.0 MB)".

    Exact because a file a few bytes over the limit must not read "16.0 MB, over 16.0 MB"."""
    exact = f"{size:,} bytes"
    return f"{exact} ({size / 1_000_000:.1f} MB)" if size >= 1_000_000 else exact


def _accepted(limits: Limits) -> str:
    return ", ".join(sorted(set(limits.extensions) | limits.convertible))


def _content_problem(facts: FileFacts, ext: str, sniffed: str | None, limits: Limits) -> str:
    wanted = describe_mime(PRIMARY_MIME.get(ext, ext))
    if ext == "pdf":
        found = f"; it looks like {describe_mime(sniffed)}" if sniffed else ""
        return f"{facts.name} does not start with '%PDF-', so it is not a PDF{found}."
    if sniffed is None:
        return (
            f"{facts.name}: its content is not {wanted} (no file signature faxd knows); "
            "save it again in that format."
        )
    right_ext = _EXTENSION_FOR.get(sniffed, "")
    accepted = right_ext in limits.extensions or right_ext in limits.convertible
    fix = f"rename it to .{right_ext}" if accepted else f"save it as {wanted}"
    return f"{facts.name}: its content is {describe_mime(sniffed)}, not {wanted}; {fix}."


def _pdf_problems(facts: FileFacts) -> list[str]:
    problems = []
    # The trailer (at the end, and at the start of a linearized PDF) names /Encrypt.
    if b"/Encrypt" in facts.tail or b"/Encrypt" in facts.head:
        problems.append(
            f"{facts.name} is encrypted (password-protected), which the provider cannot "
            "render; save or print it to a new PDF without a password."
        )
    if b"%%EOF" not in facts.tail:
        problems.append(
            f"{facts.name} is incomplete: it does not end with '%%EOF' (cut off while "
            "being written or copied?); save it again."
        )
    return problems


def check_file(facts: FileFacts, limits: Limits) -> list[str]:
    """Every problem with one file, each a sentence that names it."""
    if facts.size == 0:
        return [f"{facts.name} is empty (0 bytes); nothing to send."]
    problems = []
    if facts.size > limits.max_file_size:
        problems.append(
            f"{facts.name} is {format_size(facts.size)}, over the provider's limit of "
            f"{format_size(limits.max_file_size)} per file; split it or reduce its resolution."
        )
    ext = extension_of(facts.name)
    if not ext:
        problems.append(
            f"{facts.name} has no file name extension, so the provider cannot tell its "
            f"type; add one of: {_accepted(limits)}."
        )
        return problems
    allowed = limits.extensions.get(ext)
    if allowed is None and ext in limits.convertible:
        allowed = KNOWN_TYPES.get(ext)
    if allowed is None:
        problems.append(
            f"{facts.name}: the provider does not accept '.{ext}' files; convert it to "
            f"one of: {_accepted(limits)}."
        )
        return problems
    utf16 = facts.head.startswith(_UTF16_BOMS)
    if ext in _TEXT_EXTENSIONS and not utf16 and (b"\0" in facts.head or b"\0" in facts.tail):
        problems.append(
            f"{facts.name} contains NUL bytes, so it is not plain text; "
            "check the program that wrote it."
        )
        return problems
    sniffed = sniff_mime(facts.head, ext)
    if sniffed not in allowed:
        problems.append(_content_problem(facts, ext, sniffed, limits))
        return problems
    if sniffed == PDF:
        problems.extend(_pdf_problems(facts))
    return problems


def check_files(files: Sequence[FileFacts], limits: Limits) -> list[str]:
    """Every problem with the files of one transmission, at once; [] if none."""
    problems: list[str] = []
    if len(files) > limits.max_files:
        problems.append(
            f"{files[0].name}: {len(files)} files in one transmission (the document and "
            f"its attachments), but the provider takes at most {limits.max_files}."
        )
    seen: set[str] = set()
    for facts in files:
        key = facts.name.casefold()
        if key in seen:
            problems.append(
                f"{facts.name} appears twice in one transmission; attach each file once."
            )
            continue
        seen.add(key)
        problems.extend(check_file(facts, limits))
    return problems
