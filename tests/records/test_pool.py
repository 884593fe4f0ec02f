"""Report PDFs drawn in the helper process, and what a dead helper means."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from faxd.records.pool import DrawPool
from faxd.records.report_pdf import ReportData
from tests.records.records_helpers import write_pdf

DATA = ReportData(
    result="delivered",
    station_name="Front desk",
    our_number="+4612345678",
    provider="docs",
    job_id="j1",
    document="a.pdf",
    pages=None,
    sha256=None,
    reference=None,
    received_at=None,
    finished_at=None,
    recipients=(),
)


def test_helper_draws_and_a_killed_helper_is_reported_then_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = write_pdf(tmp_path / "a.pdf", pages=3)
    pool = DrawPool()
    try:
        made = pool.make(doc, DATA, draw=True, problem=None)
        assert made.pdf is not None and made.pdf.startswith(b"%PDF")
        assert made.pages == 3 and made.sha256 and not made.interrupted
        assert pool._proc is not None
        pool._proc.kill()  # an idle helper that died is simply started again
        pool._proc.wait()
        again = pool.make(doc, DATA, draw=True, problem=None)
        assert again.pdf is not None and not again.interrupted
        pool.close()
        # A helper that dies while drawing (the PDF engine crashed, or a stop killed it).
        crash = "import os, sys; sys.stdin.buffer.read(4); os._exit(70)"
        real_popen = subprocess.Popen

        def dying(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
            return real_popen([argv[0], "-c", crash], **kwargs)

        monkeypatch.setattr(subprocess, "Popen", dying)
        broken = pool.make(doc, DATA, draw=True, problem=None)
        assert broken.interrupted and broken.pdf is None and "crashed" in (broken.error or "")
        monkeypatch.undo()
        assert pool.make(doc, DATA, draw=True, problem=None).pdf is not None
    finally:
        pool.close(kill=True)
