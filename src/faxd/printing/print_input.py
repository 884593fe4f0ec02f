"""Print-to-fax input: what a printing program left for addressing, and the file
to upload in place of the document when it has to be converted or cleaned first.

The document itself stays untouched in the spool folder and is filed under sent/ or
failed/ as usual; a converted PDF (PostScript, PJL-wrapped print files) or a text file
with its embedded code removed is written into a `print-*/` folder under the work folder
the caller gives (the job's own, `state_dir/work/JOB`) and uploaded instead, so the
provider sees exactly what was checked before sending."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from faxd.core.names import NAME_MAX, cut_keeping_extensions
from faxd.core.print_clues import (
    Clue,
    PjlHeader,
    embedded_clue,
    has_pjl,
    is_print_file,
    name_clue,
    parse_pjl,
    pjl_clue,
    pjl_language,
    search_codes,
)
from faxd.errors import FaxdError
from faxd.host import contained, fsops
from faxd.printing.pdf_text import read_pdf_text
from faxd.printing.postscript import postscript_to_pdf
from faxd.settings import FolderSettings

MAX_TEXT_SIZE = 16 * 1024 * 1024
MAX_PRINT_SIZE = 64 * 1024 * 1024  # read whole into memory: PJL header, then the payload


@dataclass
class PrintInput:
    """What `examine` found; `upload` (if set) is sent instead of the document."""

    clues: list[Clue] = field(default_factory=list)
    upload: Path | None = None
    ino: int | None = None  # the document's own inode, for the archiver's replaced-file check
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not errors: e.g. an unreadable text layer


class _WorkDir:
    """A directory made only when something has to be written."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._path: Path | None = None

    def file(self, name: str) -> Path:
        if self._path is None:
            self._path = self._root / f"print-{uuid.uuid4().hex[:12]}"
            self._path.mkdir(parents=True, exist_ok=True)
        # Room for the temporary names converters write beside it.
        return self._path / cut_keeping_extensions(name, NAME_MAX - 32)


def examine(folder: FolderSettings, path: Path, work_root: Path, *, addressed: bool) -> PrintInput:
    """Clues for addressing (only when no sidecar or subfolder addressed the document) and
    the file to upload. Problems are collected, never raised."""
    found = PrintInput()
    try:
        found.ino = path.lstat().st_ino
    except OSError:
        return found  # intake reports the missing file itself
    if not addressed:
        clue = name_clue(folder.name_pattern, path.name)
        if clue is not None:
            found.clues.append(clue)
    work = _WorkDir(work_root)
    ext = path.suffix.lower().lstrip(".")
    try:
        if is_print_file(path.name) and folder.convert_postscript:
            _print_file(folder, path, work, found, addressed=addressed)
        elif ext == "txt" and folder.embedded_code:
            _text_file(folder.embedded_code, path, work, found, addressed=addressed)
        elif ext == "pdf" and folder.embedded_code and not addressed and not found.clues:
            _pdf_codes(folder.embedded_code, path, found)
    except FaxdError as exc:
        found.problems.append(str(exc))
    except OSError as exc:
        found.problems.append(
            f"{path.name}: could not be read or converted ({exc.strerror or exc}); "
            "faxd tries it again when it is moved back into the spool folder."
        )
    return found


def _print_file(
    folder: FolderSettings, path: Path, work: _WorkDir, found: PrintInput, *, addressed: bool
) -> None:
    data = contained.read_file(path, MAX_PRINT_SIZE, "print file")
    header = parse_pjl(data) if has_pjl(data[:4096]) else PjlHeader(payload_end=len(data))
    if not addressed and not found.clues:
        clue = pjl_clue(header, folder.embedded_code, folder.name_pattern)
        if clue is not None:
            found.clues.append(clue)
    payload = data[header.payload_start : header.payload_end]
    language = pjl_language(header, payload[:256])
    pdf = work.file(f"{path.stem}.pdf")
    if language == "pdf":
        fsops.write_atomic(pdf, payload, unique=False)
    elif language == "postscript":
        source = path
        if header.payload_start or header.payload_end != len(data):
            source = work.file(f"{path.stem}.ps")
            fsops.write_atomic(source, payload, unique=False)
        postscript_to_pdf(source, pdf, path.name)
    elif language in ("pcl", "pclxl"):
        kind = "PCL XL (PCL 6)" if language == "pclxl" else "PCL"
        found.problems.append(
            f"{path.name} holds {kind} printer data, which faxd cannot convert to PDF here. "
            "Set the printer driver that writes this file to PostScript or PDF output, "
            "and print the document again."
        )
        return
    else:
        found.problems.append(
            f"{path.name} is neither PostScript nor PDF print output (with or without a PJL "
            "header), so faxd cannot convert it. Print to a PostScript or PDF printer "
            "driver instead."
        )
        return
    found.upload = pdf
    if not addressed and not found.clues and folder.embedded_code:
        _pdf_codes(folder.embedded_code, pdf, found)


def _text_file(
    pattern: str, path: Path, work: _WorkDir, found: PrintInput, *, addressed: bool
) -> None:
    try:
        raw = contained.read_file(path, MAX_TEXT_SIZE, "text file")
    except contained.TooLargeError:
        return  # too long to search for codes; it is sent as it is

    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        text, encoding = raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = raw.decode("cp1252", errors="replace"), "cp1252"
    result = search_codes(pattern, text)
    if not result.found:
        return
    cleaned = result.cleaned.encode(encoding, errors="replace")
    clean = work.file(path.name)
    fsops.write_atomic(clean, (b"\xef\xbb\xbf" if bom else b"") + cleaned, unique=False)
    found.upload = clean
    if not addressed and not found.clues:
        clue = embedded_clue(result.recipients, "in the text")
        if clue is not None:
            found.clues.append(clue)


def _pdf_codes(pattern: str, pdf: Path, found: PrintInput) -> None:
    text = read_pdf_text(pdf)
    if text.problem:
        found.notes.append(text.problem)
    for number, page in enumerate(text.pages, start=1):
        result = search_codes(pattern, page)
        clue = embedded_clue(result.recipients, f"on page {number}")
        if clue is not None:
            found.clues.append(clue)
            return


def discard_work(paths: Iterable[str], work_root: Path) -> int:
    """Remove the print-* folders under `work_root` that a finished job's upload `paths`
    point into (converted PDFs, cleaned text); other paths are never touched. Returns how
    many folders were removed."""
    removed = 0
    for path in paths:
        folder = Path(path).parent
        if folder.parent == work_root and folder.name.startswith("print-") and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
