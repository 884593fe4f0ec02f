"""The intake thread survives what it cannot foresee: one file that trips an error costs
only that file, and a journal that takes no writes makes it wait, not fail documents."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_a_spool_folder_faxd_may_not_list_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its documents were never seen, and nothing said so. (Root lists any folder, so the
    # refusal is the operating system's answer put in its place.)
    import errno

    import structlog

    rig = IntakeRig(tmp_path)
    try:
        locked = rig.spool / "+46812345622"
        locked.mkdir()
        (locked / "p3.pdf").write_bytes(PDF)
        real = os.scandir

        def scandir(path: Any) -> Any:
            if Path(path) == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
        with structlog.testing.capture_logs() as logs:
            rig.run()
            rig.intake.scan(rig.spool)  # a rescan meets it again
            rig.run()
        said = [e for e in logs if e["event"].startswith("a folder in the spool cannot be read")]
        assert len(said) == 1 and said[0]["folder"] == str(locked)
        assert "permission" in said[0]["error"]
        assert rig.journal.jobs() == []
    finally:
        rig.journal.close()
