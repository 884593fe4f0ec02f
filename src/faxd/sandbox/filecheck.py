"""What Generic DOCS accepts as a file: extension, declared MIME type, and content.

The API page lists extensions and MIME types and says both are validated; the emulator
also checks the content really is what the extension claims, because a real service
that renders the file would refuse it (and faxd promises to check it first)."""

from __future__ import annotations

import io
import zipfile

MAX_FILE_SIZE = 16 * 1024 * 1024
MAX_FILES = 5

_IMAGE_TYPES = frozenset(
    {
        "image/bmp",
        "image/gif",
        "image/jpeg",
        "image/pjpeg",
        "image/png",
        "image/x-png",
        "image/tiff",
    }
)
_OOXML = "application/vnd.openxmlformats-officedocument."

# extension -> MIME types that may accompany it
EXTENSIONS: dict[str, frozenset[str]] = {
    "bmp": frozenset({"image/bmp"}),
    "doc": frozenset({"application/msword"}),
    "docx": frozenset({_OOXML + "wordprocessingml.document"}),
    "gif": frozenset({"image/gif"}),
    "jpg": frozenset({"image/jpeg", "image/pjpeg"}),
    "jpeg": frozenset({"image/jpeg", "image/pjpeg"}),
    # the page lists pcx without a MIME type: any image type from the table will do
    "pcx": _IMAGE_TYPES,
    "pdf": frozenset({"application/pdf"}),
    "png": frozenset({"image/png", "image/x-png"}),
    "ppt": frozenset({"application/vnd.ms-powerpoint"}),
    "pptx": frozenset({_OOXML + "presentationml.presentation"}),
    "txt": frozenset({"text/plain"}),
    "tif": frozenset({"image/tiff"}),
    "tiff": frozenset({"image/tiff"}),
    "xls": frozenset({"application/vnd.ms-excel"}),
    "xlsx": frozenset({_OOXML + "spreadsheetml.sheet"}),
}
MIME_TYPES = frozenset().union(*EXTENSIONS.values())

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OOXML_DIRS = {"docx": "word/", "xlsx": "xl/", "pptx": "ppt/"}


def extension_of(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.strip("."):
        return ""
    return base.rsplit(".", 1)[-1].lower()


def _content_ok(ext: str, data: bytes) -> bool:
    if ext == "pdf":
        # PDF readers accept the header anywhere in the first 1024 bytes
        return b"%PDF-" in data[:1024]
    if ext == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in ("jpg", "jpeg"):
        return data.startswith(b"\xff\xd8\xff")
    if ext == "gif":
        return data.startswith((b"GIF87a", b"GIF89a"))
    if ext == "bmp":
        return data.startswith(b"BM")
    if ext in ("tif", "tiff"):
        return data.startswith((b"II*\x00", b"MM\x00*"))
    if ext == "pcx":
        return len(data) > 128 and data[0] == 0x0A and data[2] in (0, 1)
    if ext in ("doc", "xls", "ppt"):
        return data.startswith(_OLE2)
    if ext in _OOXML_DIRS:
        if not data.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, ValueError, OSError):
            return False
        return any(name.startswith(_OOXML_DIRS[ext]) for name in names)
    if ext == "txt":
        return b"\x00" not in data
    return False


def check_file(filename: str | None, content_type: str | None, data: bytes) -> str | None:
    """None when the file is acceptable, else the reason it is refused (one sentence)."""
    if not filename:
        return "a 'file' part has no filename"
    label = repr(filename)
    ext = extension_of(filename)
    spelled = filename.rsplit(".", 1)[-1]
    if ext in EXTENSIONS and spelled != ext:
        # The page's table is in lower case and says the extension is validated, not
        # whether case matters: the emulator takes the strict reading.
        return f"file {label} has the extension .{spelled}; the supported spelling is .{ext}"
    if ext not in EXTENSIONS:
        shown = f".{ext}" if ext else "no extension"
        return (
            f"file {label} has {shown}, which is not a supported file type "
            f"({', '.join(sorted(EXTENSIONS))})"
        )
    if not content_type:
        return f"file {label} was sent without a Content-Type"
    if content_type not in MIME_TYPES:
        return f"file {label} has the unsupported MIME type {content_type!r}"
    if content_type not in EXTENSIONS[ext]:
        return f"file {label}: MIME type {content_type!r} does not match the extension .{ext}"
    if not data:
        return f"file {label} is empty"
    if len(data) > MAX_FILE_SIZE:
        return f"file {label} is {len(data)} bytes, more than the 16 MB limit ({MAX_FILE_SIZE})"
    if not _content_ok(ext, data):
        return f"file {label}: its content is not a valid .{ext} file"
    return None
