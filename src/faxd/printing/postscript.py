"""PostScript print-to-file output to PDF with Ghostscript.

Ghostscript runs with -dSAFER (the PostScript program cannot touch files other than its
output), without a shell, with a time limit, and writes to a temp name that is renamed
into place, so a PDF under the final name is always complete."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from faxd.core.names import shorten_to
from faxd.errors import PreflightError
from faxd.host import contained
from faxd.host.bounded import bounded_command
from faxd.host.fsops import NotRegularFileError

GS_TIMEOUT = 120.0
# Address space for one conversion: pdfwrite needs far less; a hostile program that
# allocates without end is stopped here rather than by the kernel's OOM killer.
GS_MEMORY = 2 * 1024**3


def find_ghostscript() -> str | None:
    return shutil.which("gs")


def postscript_to_pdf(source: Path, dest: Path, name: str, timeout: float = GS_TIMEOUT) -> None:
    """Convert the PostScript program in `source` to a PDF at `dest`.

    `name` is the document's name for messages (the source may be a stripped copy).
    Raises PreflightError naming the document, what went wrong and what to do."""
    gs = find_ghostscript()
    if gs is None:
        raise PreflightError(
            f"{name}: PostScript needs Ghostscript to be converted to PDF, and 'gs' is not "
            "installed.",
            "Install it (apt install ghostscript) and move the document back into the spool "
            "folder, or print to PDF instead.",
        )
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{shorten_to(dest.name, 200)}.", suffix=".tmp", dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    command = [
        gs,
        "-dSAFER",
        "-dBATCH",
        "-dNOPAUSE",
        "-dQUIET",
        "-sDEVICE=pdfwrite",
        f"-sOutputFile={tmp}",
        # The program comes on stdin, from a descriptor opened without following a link:
        # Ghostscript never opens the source by name.
        "-",
    ]
    try:
        source_fd = contained.open_file(source)
    except NotRegularFileError as exc:
        tmp.unlink(missing_ok=True)
        raise PreflightError(str(exc), "Print the document again.") from None
    try:
        completed = subprocess.run(
            bounded_command(command, memory=GS_MEMORY, cpu_seconds=timeout),
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=source_fd,
            text=True,
            errors="replace",
        )
        if completed.returncode != 0 or tmp.stat().st_size == 0:
            detail = _last_line(completed.stderr or completed.stdout)
            raise PreflightError(
                f"{name}: Ghostscript could not convert the PostScript to PDF "
                f"(exit {completed.returncode}{': ' + detail if detail else ''}).",
                "Check that the file prints on a PostScript printer, or print to PDF instead.",
            )
        os.replace(tmp, dest)
    except subprocess.TimeoutExpired:
        raise PreflightError(
            f"{name}: Ghostscript did not finish converting the PostScript within {timeout:.0f} s.",
            "The file may be damaged or very large; print to PDF instead.",
        ) from None
    finally:
        os.close(source_fd)
        tmp.unlink(missing_ok=True)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
