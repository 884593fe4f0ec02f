"""PostScript print-to-file output to PDF with Ghostscript (issue 6).

Ghostscript runs with -dSAFER (the PostScript program cannot touch files other than its
output), without a shell, with a time limit, and writes to a temp name that is renamed
into place, so a PDF under the final name is always complete."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from faxd.errors import PreflightError

GS_TIMEOUT = 120.0


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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
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
        # -f: the next argument is a file even if its name starts with '-'.
        "-f",
        str(source),
    ]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
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
        tmp.unlink(missing_ok=True)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
