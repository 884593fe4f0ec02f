"""The default `sidecar_wait` holds documents only in folders that use sidecars: a folder
that never had one sends as soon as a document settles; one that has had a sidecar (seen
by a scan or the watcher, remembered in the journal) keeps its grace period; a configured
`sidecar_wait` always applies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from faxd.outbound.intake import Intake
from faxd.outbound.watcher import Change

from ..config.cfg_helpers import MINIMAL, load
from .engine_rig import FakeSender
from .test_intake import PDF, IntakeRig


class DefaultWaitRig(IntakeRig):
    """settle 1 s and the built-in sidecar_wait (10 s, not configured)."""

    def __init__(self, tmp: Path, *, configured: bool = False) -> None:
        super().__init__(tmp)
        self.folder = replace(
            self.folder, settle=1.0, sidecar_wait=10.0, sidecar_wait_if_seen=not configured
        )
        self.intake.configure(replace(self.intake._settings, folders=(self.folder,)))

    def drop(self, rel: str, data: bytes = PDF) -> Path:
        """A file written now (by the fake clock), reported by the watcher."""
        path = self.spool / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        now = self.clock.time()
        os.utime(path, (now, now))
        self.intake.changes.put(Change(self.spool, path, "file"))
        return path

    def after(self, seconds: float) -> list[str]:
        self.run(2)
        self.clock.advance(seconds)
        self.run(2)
        return self.jobs()

    def restart(self) -> None:
        self.intake = Intake(
            self.intake._settings,
            self.journal,
            {"fake": FakeSender()},
            self.intake._archiver,
            self.clock,
            lambda: None,
        )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[DefaultWaitRig]:
    r = DefaultWaitRig(tmp_path)
    yield r
    r.journal.close()


def test_a_folder_without_sidecars_sends_once_the_document_settles(rig: DefaultWaitRig) -> None:
    rig.run()  # the start-up scan: nothing there
    rig.drop("+46812345678/letter.pdf")
    assert rig.after(0.5) == []
    assert rig.after(0.6) == ["+46812345678/letter.pdf"]  # settle, not settle + 10 s


def test_a_folder_that_has_had_a_sidecar_keeps_the_grace_period(rig: DefaultWaitRig) -> None:
    (rig.spool / "old.pdf.yaml").write_text('to: "+46812345678"\n')
    rig.intake.scan(rig.spool)  # the scan sees a sidecar (its document is long gone)
    rig.run()
    rig.drop("letter.pdf")
    assert rig.after(1.1) == []
    (rig.spool / "letter.pdf.yaml").write_text('to: "+46812345699"\n')  # late, but in time
    rig.intake.changes.put(Change(rig.spool, rig.spool / "letter.pdf.yaml", "file"))
    assert rig.after(1.1) == ["letter.pdf"]
    assert rig.journal.jobs()[0].rule == "sidecar"


def test_the_folder_is_remembered_across_restarts(rig: DefaultWaitRig) -> None:
    sidecar = rig.spool / "a.pdf.yaml"
    sidecar.write_text('to: "+46812345678"\n')
    rig.intake.changes.put(Change(rig.spool, sidecar, "file"))
    rig.run()
    sidecar.unlink()
    rig.restart()
    rig.run()  # its scan finds no sidecar now
    rig.drop("b.pdf")
    assert rig.after(1.1) == []
    assert rig.after(9.0) == ["b.pdf"]


def test_a_configured_sidecar_wait_always_applies(tmp_path: Path) -> None:
    rig = DefaultWaitRig(tmp_path, configured=True)
    try:
        rig.run()
        rig.drop("letter.pdf")
        assert rig.after(1.1) == []
        assert rig.after(9.0) == ["letter.pdf"]
    finally:
        rig.journal.close()


@pytest.mark.parametrize(
    ("extra", "if_seen"),
    [
        ("", True),
        ("defaults:\n  sidecar_wait: 10\n", False),
        ("", False),  # set on the folder itself
    ],
)
def test_only_the_built_in_default_depends_on_seen_sidecars(
    tmp_path: Path, extra: str, if_seen: bool
) -> None:
    text = MINIMAL + extra
    if not if_seen and not extra:
        text = text.replace("  - path: out\n", "  - path: out\n    sidecar_wait: 3\n")
    path = tmp_path / "faxd.yaml"
    path.write_text(text)
    (folder,) = load(path).folders
    assert folder.sidecar_wait_if_seen is if_seen


def test_a_report_filed_in_sent_inside_the_spool_folder_is_no_sidecar(
    rig: DefaultWaitRig,
) -> None:
    # sent/ and failed/ inside the spool folder are the default layout: the first filed
    # YAML report was taken for a sidecar, and every later document waited 10 s more.
    rig.run()
    for tree in ("sent", "failed"):
        report = rig.spool / tree / "+46812345678" / "a.pdf.report.yaml"
        report.parent.mkdir(parents=True)
        report.write_text("result: delivered\n")
        rig.intake.changes.put(Change(rig.spool, report, "file"))
    rig.run()
    rig.drop("+46812345678/letter.pdf")
    assert rig.after(1.1) == ["+46812345678/letter.pdf"]
    assert not rig.journal.sidecars_seen(rig.spool)
