"""The intake thread survives what it cannot foresee: one file that trips an error costs
only that file, and a journal that takes no writes makes it wait, not fail documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from faxd.outbound.watcher import Change
from faxd.store.journal import JournalWriteError

from .test_intake import PDF, IntakeRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    yield r
    r.journal.close()


def test_an_error_on_one_file_does_not_stop_the_others(
    rig: IntakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = rig.spool / "bad.pdf", rig.spool / "good.pdf"
    bad.write_bytes(PDF)
    good.write_bytes(PDF)
    real = rig.intake._handle

    def handle(change: Change) -> None:
        if change.path == bad:
            raise OSError(5, "Input/output error", str(bad))
        real(change)

    monkeypatch.setattr(rig.intake, "_handle", handle)
    rig.intake.changes.put(Change(rig.spool, bad, "file"))
    rig.intake.changes.put(Change(rig.spool, good, "file"))
    rig.run()
    assert rig.jobs() == ["good.pdf"]


@pytest.mark.parametrize("takers", [0, 4])
def test_a_journal_that_takes_no_writes_keeps_the_document_for_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, takers: int
) -> None:
    rig = IntakeRig(tmp_path, takers=takers)
    try:
        doc = rig.spool / "a.pdf"
        doc.write_bytes(PDF)
        real = rig.journal.create_job

        def full(*args: object, **kwargs: object) -> None:
            raise JournalWriteError("the journal cannot be written (database or disk is full).")

        monkeypatch.setattr(rig.journal, "create_job", full)
        rig.intake.changes.put(Change(rig.spool, doc, "file"))
        with structlog.testing.capture_logs() as logs:
            rig.run_until_tracked(doc)  # a taker's failed take came back to the intake
        assert rig.jobs() == [] and doc.exists()  # not failed, not filed: waiting
        assert rig.intake.pending() == 1 and rig.intake._claims.taking() == 0
        # The journal says it once; the intake adds no traceback per document.
        assert not [entry for entry in logs if entry["log_level"] in ("error", "critical")]
        monkeypatch.setattr(rig.journal, "create_job", real)
        rig.clock.advance(60)
        rig.run_until_idle()
        assert rig.jobs() == ["a.pdf"]
    finally:
        rig.intake.close()
        rig.journal.close()
