"""Report PDFs drawn in a helper process at the lowest CPU priority: drawing is pure Python
(font subsetting) and would otherwise hold the interpreter lock the fax path needs; a
document that crashes the PDF engine costs that one report, never the daemon.

The helper also counts the pages of received documents for the activity journal: they
come from outside, and are parsed there for the same reason.

The helper is `python -m faxd.records.pool`, fed pickled calls on stdin and answering on
stdout, one at a time; it ends when its stdin closes."""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any

from faxd.crash_points import crash_point
from faxd.records import activity, document_facts
from faxd.records.activity import ActivityRow
from faxd.records.making import Made, make
from faxd.records.report_pdf import ReportData

TIMEOUT = 120.0  # seconds for one report: a pathological document is given up
# The helper holds the PDF library and its fonts (~60 MB): it ends after this long without
# work and is started again for the next drawing, so an idle faxd does not keep it.
IDLE_EXIT = 60.0
_HEADER = struct.Struct(">I")


class _Gone(Exception):
    """The helper died or did not answer in time."""


class DrawError(Exception):
    """A drawing the helper could not make; tried again at the next round."""


def _read_exact(stream: IO[bytes], size: int, deadline: float | None) -> bytes:
    data = b""
    fd = stream.fileno()
    while len(data) < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise _Gone
        data += chunk
    return data


def _send(stream: IO[bytes], value: Any) -> None:
    body = pickle.dumps(value)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _receive(stream: IO[bytes], deadline: float | None) -> Any:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size, deadline))
    return pickle.loads(_read_exact(stream, size, deadline))  # noqa: S301 - our own child


class DrawPool:
    def __init__(self, idle_exit: float = IDLE_EXIT) -> None:
        self._idle_exit = idle_exit
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _helper(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "faxd.records.pool", str(self._idle_exit)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
                # Out of the terminal's foreground group: a Ctrl-C of `faxd run` killed
                # the idle helper with a KeyboardInterrupt traceback. faxd stops it itself.
                process_group=0,
            )
        return self._proc

    def make(
        self,
        document: Path | None,
        data: ReportData,
        *,
        draw: bool,
        problem: str | None,
        converted: Path | None = None,
    ) -> Made:
        try:
            made: Made = self._ask("report", (document, data, draw, problem, converted))
        except _Gone:
            return Made(None, None, None, "drawing the report PDF crashed", interrupted=True)
        except TimeoutError:
            return Made(None, None, None, "drawing the report PDF took too long")
        return made

    def activity_pdf(self, rows: Sequence[ActivityRow], day: date, station: str | None) -> bytes:
        """The day's activity journal as a PDF, drawn in the helper: fpdf and its font
        tables then never enter the daemon's own memory."""
        try:
            answer: bytes | str = self._ask("activity", (list(rows), day, station))
        except _Gone:
            raise DrawError("the helper drawing the activity journal crashed") from None
        except TimeoutError:
            raise DrawError("drawing the activity journal took too long") from None
        if isinstance(answer, str):
            raise DrawError(answer)
        return answer

    def page_counts(self, paths: Sequence[Path]) -> list[int | None]:
        """Pages of received documents (None: not countable), counted in the helper: a
        document from outside is parsed there, so one that crashes the PDF engine costs
        its own count, never the daemon. After a crash or a timeout the documents are
        counted again one by one, and only the one that failed stays uncounted."""
        if not paths:
            return []
        try:
            counts: list[int | None] = self._ask("pages", (list(paths),))
        except (_Gone, TimeoutError):
            if len(paths) == 1:
                return [None]
            return [self.page_counts([path])[0] for path in paths]
        return counts

    def _ask(self, kind: str, call: tuple[Any, ...]) -> Any:
        """One drawing by the helper, one at a time. A helper that died (_Gone) or took
        too long (TimeoutError) is stopped; the next call starts another."""
        with self._lock:
            try:
                proc = self._helper()
                assert proc.stdin is not None and proc.stdout is not None
                _send(proc.stdin, (kind, call))
                return _receive(proc.stdout, time.monotonic() + TIMEOUT)
            except TimeoutError:  # before OSError, of which it is a subclass
                self._close()
                raise
            except (_Gone, BrokenPipeError, OSError, EOFError, pickle.UnpicklingError):
                self._close()
                raise _Gone from None

    def _close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def close(self, *, kill: bool = False) -> None:
        """Stop the helper (`kill`: at once, a drawing in progress is redone later)."""
        proc = self._proc
        if proc is not None and not kill and proc.stdin is not None:
            proc.stdin.close()  # the helper ends after the report it is drawing
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=TIMEOUT)
        self._close()


def _serve(idle_exit: float) -> None:
    try:
        _answer(idle_exit)
    except BrokenPipeError:
        # faxd went away while a drawing was under way: nobody to answer, and nothing to
        # say (a traceback here would land in faxd's log as if faxd had failed).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _answer(idle_exit: float) -> None:
    # The lowest: under load the fax path gets the CPU, reports wait. A seccomp filter
    # without setpriority refuses it: then drawn at faxd's own priority.
    with contextlib.suppress(OSError):
        os.nice(19)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            kind, call = _receive(source, time.monotonic() + idle_exit)
        except (_Gone, EOFError, TimeoutError):
            return
        if kind == "activity":
            try:
                _send(sink, activity.pdf_bytes(*call))
            except BrokenPipeError:
                raise
            except Exception as exc:
                _send(sink, f"the activity journal PDF could not be drawn ({exc})")
            continue
        if kind == "pages":
            _send(sink, [_count(path) for path in call[0]])
            continue
        document, data, draw, problem, converted = call
        _send(sink, make(document, data, draw=draw, problem=problem, converted=converted))


def _count(path: Path) -> int | None:
    crash_point("count_pages", path.name)
    return document_facts.received_pages(path)


if __name__ == "__main__":
    _serve(float(sys.argv[1]) if len(sys.argv) > 1 else IDLE_EXIT)
