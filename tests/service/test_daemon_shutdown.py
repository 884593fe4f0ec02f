"""A stop (SIGTERM) closes the journal only after the intake's takes under way have ended:
each ends in a job or in nothing, never in a write to a closed journal."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from faxd.outbound.watcher import Change
from faxd.service.daemon import Daemon
from faxd.store.journal import Journal

from ..outbound.test_intake import PDF, IntakeRig

# Longer than the daemon waits for any one thread at a stop: a large print file being
# converted, or a copy from a slow share, takes this long.
SLOW_TAKE = 7.0


@pytest.mark.slow
def test_a_stop_lets_a_take_under_way_end_before_the_journal_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = IntakeRig(tmp_path, takers=1)
    doc = rig.spool / "a.pdf"
    doc.write_bytes(PDF)
    closed = threading.Event()
    real_close = rig.journal.close

    def close() -> None:
        closed.set()
        real_close()

    taking = threading.Event()
    real_create = rig.journal.create_job

    def slow_create(*args: Any, **kwargs: Any) -> None:
        taking.set()
        closed.wait(SLOW_TAKE)  # ends early only when the journal is closed under it
        real_create(*args, **kwargs)

    monkeypatch.setattr(rig.journal, "close", close)
    monkeypatch.setattr(rig.journal, "create_job", slow_create)
    daemon = Daemon(tmp_path / "faxd.yaml", {})
    wired: Any = daemon  # only what _shutdown touches
    wired._journal = rig.journal
    wired._engine = SimpleNamespace(shutdown=lambda timeout: None)
    wired._outbox = SimpleNamespace(shutdown=lambda wait: None)
    wired._draw_pool = SimpleNamespace(close=lambda kill: None)
    wired._senders = {}
    wired._intake = rig.intake
    wired._start_thread("intake", rig.intake.run)
    try:
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
        assert taking.wait(10), "the document was not taken"
        wired._shutdown()
    finally:
        rig.intake.close()
        if not closed.is_set():
            real_close()
    reopened = Journal(rig.journal.path)
    try:
        assert [j.rel_path for j in reopened.jobs()] == ["a.pdf"]
    finally:
        reopened.close()
