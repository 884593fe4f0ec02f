"""Fixtures for print-to-fax tests: real Ghostscript, CUPS and the daemon against the sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import faxd, sandbox

__all__ = ["faxd", "needs", "postscript_pages", "real_pdf", "sandbox"]


def needs(*binaries: str) -> pytest.MarkDecorator:
    """Skip when a binary is missing, except in CI (CI=true), where scripts/test installs
    them and a missing one must fail the run instead of hiding the test."""
    missing = [b for b in binaries if shutil.which(b) is None]
    in_ci = os.environ.get("CI", "").lower() == "true"
    return pytest.mark.skipif(
        bool(missing) and not in_ci,
        reason=f"needs {', '.join(missing)} (apt install ghostscript cups cups-client "
        "cups-bsd cups-filters; scripts/test does it as root)",
    )


def _ps_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def postscript_pages(*pages: list[str]) -> bytes:
    """A DSC PostScript document with one page per list of text lines (Helvetica)."""
    out = [f"%!PS-Adobe-3.0\n%%Pages: {len(pages)}\n%%EndComments\n"]
    for number, lines in enumerate(pages, start=1):
        out.append(f"%%Page: {number} {number}\n/Helvetica findfont 14 scalefont setfont\n")
        for row, line in enumerate(lines):
            out.append(f"72 {720 - 20 * row} moveto ({_ps_string(line)}) show\n")
        out.append("showpage\n")
    out.append("%%EOF\n")
    return "".join(out).encode()


def real_pdf(target: Path, *pages: list[str]) -> Path:
    """A multi-page PDF written by Ghostscript's pdfwrite (a real PDF writer)."""
    source = target.with_suffix(".ps.in")
    source.write_bytes(postscript_pages(*pages))
    subprocess.run(
        [
            "gs",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-dQUIET",
            "-sDEVICE=pdfwrite",
            f"-sOutputFile={target}",
            "-f",
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    source.unlink()
    return target
