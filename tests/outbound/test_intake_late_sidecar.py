"""A sidecar that reaches the spool folder after its document was taken and failed is
read by nobody: the intake says so once (not at every rescan), naming the job to retry."""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from faxd.model import JobState
from faxd.outbound.watcher import Change

from .test_intake import IntakeRig

LATE = "a sidecar arrived after its document had already failed"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    yield r
    r.journal.close()


def _failed_document(rig: IntakeRig) -> str:
    # Not a document faxd can send: the job fails at intake and is filed in failed/.
    (rig.spool / "notes.xyz").write_bytes(b"\x00\x01 not a fax \x02")
    rig.run()
    [job] = rig.journal.jobs()
    assert job.state == JobState.FAILED
    assert rig.intake._archiver.try_archive(job)
    assert not (rig.spool / "notes.xyz").exists()
    return job.id


def _drop_sidecar(rig: IntakeRig, name: str, age: float) -> Path:
    sidecar = rig.spool / name
    sidecar.write_text('to: "+46812345678"\n')
    then = rig.clock.time() - age
    os.utime(sidecar, (then, then))
    return sidecar


def _late_lines(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if str(e.get("event", "")).startswith(LATE)]


def test_a_late_sidecar_is_logged_once_with_the_job_to_retry(rig: IntakeRig) -> None:
    job_id = _failed_document(rig)
    with structlog.testing.capture_logs() as logs:
        sidecar = _drop_sidecar(rig, "notes.xyz.yaml", age=3600)
        rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
        rig.run()
        for _ in range(3):  # rescans see it again and again
            rig.clock.advance(301)
            rig.run()
    [line] = _late_lines(logs)
    assert line["job"] == job_id
    assert line["sidecar"] == str(sidecar)
    assert f"faxd retry {job_id}" in str(line["hint"])
    assert sidecar.exists()  # never taken, never moved


def test_a_young_sidecar_may_precede_its_document_and_is_not_called_late(
    rig: IntakeRig,
) -> None:
    _failed_document(rig)
    with structlog.testing.capture_logs() as logs:
        sidecar = _drop_sidecar(rig, "notes.xyz.yaml", age=0)
        rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
        rig.run()
    assert _late_lines(logs) == []


def test_a_sidecar_of_a_document_that_never_failed_is_not_called_late(rig: IntakeRig) -> None:
    with structlog.testing.capture_logs() as logs:
        sidecar = _drop_sidecar(rig, "other.pdf.yaml", age=3600)
        rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
        rig.run()
    assert _late_lines(logs) == []


def test_a_sidecar_that_is_a_link_is_not_called_late(rig: IntakeRig, tmp_path: Path) -> None:
    # Its document failed because of it ("a symbolic link"); retrying would fail again.
    _failed_document(rig)
    target = tmp_path / "elsewhere.yaml"
    target.write_text('to: "+46812345678"\n')
    sidecar = rig.spool / "notes.xyz.yaml"
    sidecar.symlink_to(target)
    then = rig.clock.time() - 3600
    os.utime(sidecar, (then, then), follow_symlinks=False)
    with structlog.testing.capture_logs() as logs:
        rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
        rig.run()
    assert _late_lines(logs) == []
