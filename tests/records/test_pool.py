"""Report PDFs drawn in the helper process, and what a dead helper means."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from faxd.records import pool as pool_module
from faxd.records.pool import DrawPool
from faxd.records.report_pdf import ReportData
from tests.records.records_helpers import pdf_text, write_pdf, write_tiff

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


ACTIVITY_PROBE = """
import sys
from datetime import date
from faxd.records.activity import ActivityRow
from faxd.records import pool as pool_module
from faxd.records.pool import DrawPool
row = ActivityRow("2026-11-29T10:00:00+01:00", "sent", "+4612345678", "+46812345678",
                  "invoice-4711.pdf", "2", "delivered", "fax", "docs", "FX-1", "ab" * 32)
pool = DrawPool()
try:
    pdf = pool.activity_pdf([row], date(2026, 11, 29), "Front desk")
finally:
    pool.close()
sys.stdout.buffer.write(pdf)
# Drawn in the helper: the PDF library and its font tables never enter this process.
assert "fpdf" not in sys.modules and "fontTools" not in sys.modules, "drawn in-process"
"""


def test_the_activity_journal_pdf_is_drawn_in_the_helper(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", ACTIVITY_PROBE], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    pdf = tmp_path / "day.pdf"
    pdf.write_bytes(done.stdout)
    text = pdf_text(pdf)
    assert "invoice-4711.pdf" in text and "+46812345678" in text


def test_an_idle_helper_ends_by_itself_and_the_next_drawing_starts_another(
    tmp_path: Path,
) -> None:
    doc = write_pdf(tmp_path / "a.pdf", pages=1)
    pool = DrawPool(idle_exit=0.5)
    try:
        assert pool.make(doc, DATA, draw=True, problem=None).pdf is not None
        first = pool._proc
        assert first is not None
        first.wait(timeout=30)  # ends on its own: an idle faxd does not hold the PDF library
        again = pool.make(doc, DATA, draw=True, problem=None)
        assert again.pdf is not None and not again.interrupted
        assert pool._proc is not first
    finally:
        pool.close()


def test_a_drawing_that_takes_too_long_is_given_up_not_taken_for_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A crash is drawn again (the helper may have been killed by a stop); a document that
    # keeps the helper busy past TIMEOUT would only do it again.
    doc = write_pdf(tmp_path / "a.pdf", pages=1)
    monkeypatch.setattr(pool_module, "TIMEOUT", 0.0)
    pool = DrawPool()
    try:
        made = pool.make(doc, DATA, draw=True, problem=None)
        assert made.error == "drawing the report PDF took too long"
        assert not made.interrupted
        assert pool._proc is None  # the stuck helper was stopped
    finally:
        pool.close()


def test_received_pages_are_counted_in_the_helper_and_a_crash_costs_one_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A received document comes from outside: one that crashes the PDF engine (here the
    helper is killed as it reaches bad.pdf, a valid PDF) must cost only its own count."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    one = write_pdf(inbox / "one.pdf", pages=1)
    bad = write_pdf(inbox / "bad.pdf", pages=2)
    tiff = write_tiff(inbox / "scan.tiff", pages=3)
    (inbox / "notes.txt").write_text("not a document with pages\n")
    (inbox / "private.pdf").symlink_to(write_pdf(tmp_path / "elsewhere.pdf", pages=4))
    paths = [one, bad, tiff, inbox / "notes.txt", inbox / "private.pdf", inbox / "gone.pdf"]
    pool = DrawPool()
    try:
        assert pool.page_counts(paths) == [1, 2, 3, None, None, None]
        assert pool.page_counts([]) == []
        pool.close()
        monkeypatch.setenv("FAXD_CRASH_AT", "count_pages:bad.pdf")  # the next helper's
        assert pool.page_counts(paths) == [1, None, 3, None, None, None]
        assert pool.page_counts([bad]) == [None]
        monkeypatch.delenv("FAXD_CRASH_AT")
        pool.close()
        assert pool.page_counts([bad, one]) == [2, 1]
    finally:
        pool.close(kill=True)


PAGES_PROBE = """
import sys
from pathlib import Path
from faxd.records.pool import DrawPool
pool = DrawPool()
try:
    print(pool.page_counts([Path(sys.argv[1])]))
finally:
    pool.close()
# Counted in the helper: the PDF engine never enters this process.
assert "pypdfium2" not in sys.modules, "counted in-process"
"""


def test_the_pdf_engine_never_enters_the_process_that_asks_for_page_counts(
    tmp_path: Path,
) -> None:
    doc = write_pdf(tmp_path / "fax.pdf", pages=2)
    done = subprocess.run(
        [sys.executable, "-c", PAGES_PROBE, str(doc)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[2]"


def test_a_helper_not_allowed_to_lower_its_priority_still_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd's SystemCallFilter=~@resources answers setpriority with EPERM: the helper
    # crashed at its first line, and no report PDF was ever drawn.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import errno, os\n"
        "def _refused(increment):\n"
        "    raise PermissionError(errno.EPERM, 'Operation not permitted')\n"
        "os.nice = _refused\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), *sys.path])))
    doc = write_pdf(tmp_path / "a.pdf", pages=2)
    pool = DrawPool()
    try:
        made = pool.make(doc, DATA, draw=True, problem=None)
        assert made.error is None and not made.interrupted
        assert made.pdf is not None and made.pdf.startswith(b"%PDF") and made.pages == 2
    finally:
        pool.close()


CTRL_C_PROBE = """
import signal, sys, threading, time
from pathlib import Path
from faxd.records.pool import DrawPool
stop = threading.Event()
signal.signal(signal.SIGINT, lambda *_: stop.set())  # as faxd run does
pool = DrawPool()
print(pool.page_counts([Path(sys.argv[1])]), flush=True)
assert stop.wait(60), "no SIGINT came"
time.sleep(1.0)  # what a helper hit by the Ctrl-C would print, it has printed by now
print("helper alive" if pool._proc is not None and pool._proc.poll() is None else "helper gone")
pool.close()
"""


def test_ctrl_c_in_a_terminal_leaves_the_helper_to_faxd(tmp_path: Path) -> None:
    """The terminal sends SIGINT to the whole foreground process group: the idle helper
    died in _read_exact with a KeyboardInterrupt traceback under `faxd run`'s last lines."""
    doc = write_pdf(tmp_path / "fax.pdf", pages=1)
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_PROBE, str(doc)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a shell gives a command
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "[1]"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, err) == (0, "")
    assert out.strip() == "helper alive"
