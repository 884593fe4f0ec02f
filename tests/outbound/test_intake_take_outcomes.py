"""Every due document ends its turn in a job or back on the intake thread's list, also when
something unforeseen goes wrong on the way: it costs that document a retry, never the
intake thread, and never a place among the takes under way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faxd.outbound import intake, intake_held, intake_take, intake_tracking
from faxd.outbound.watcher import Change

from .test_intake import PDF, IntakeRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path, takers=4)
    yield r
    r.intake.close()
    r.journal.close()


def test_an_error_in_the_attachment_check_costs_the_document_a_retry_not_the_intake(
    rig: IntakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = rig.spool / "a.pdf"
    doc.write_bytes(PDF)
    real = rig.intake._attachment_owner
    calls: list[Path] = []

    def owner_once_broken(path: Path) -> Path | None:
        calls.append(path)
        if len(calls) == 1:
            raise RuntimeError("a bug in the attachment check")
        return real(path)

    monkeypatch.setattr(rig.intake, "_attachment_owner", owner_once_broken)
    rig.intake.changes.put(Change(rig.spool, doc, "file"))
    rig.run()  # must not raise: the intake thread would die with it
    rig.clock.advance(31)
    rig.run_until_idle()
    assert rig.jobs() == ["a.pdf"]


class _SilentLog:
    """The intake's logger while its output is gone (a closed log pipe): every report of
    a failure fails in turn."""

    def __getattr__(self, name: str) -> Any:
        def emit(*args: object, **kwargs: object) -> Any:
            if name in ("exception", "warning", "error"):
                raise BrokenPipeError(32, "Broken pipe")
            return self

        return emit


def test_a_take_whose_failure_cannot_be_reported_still_comes_back(
    rig: IntakeRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = rig.spool / "a.pdf"
    doc.write_bytes(PDF)
    taken: list[Path] = []

    def gather(*args: Any) -> Any:
        taken.append(doc)
        raise RuntimeError("a bug in the take")

    monkeypatch.setattr(rig.intake, "gather", gather)
    for module in (intake, intake_tracking, intake_take, intake_held):
        monkeypatch.setattr(module, "log", _SilentLog())
    rig.intake.changes.put(Change(rig.spool, doc, "file"))
    deadline = time.monotonic() + 10
    while not taken and time.monotonic() < deadline:
        rig.intake.step(max_wait=0.01)
    while rig.intake._claims.taking() and time.monotonic() < deadline:
        time.sleep(0.01)  # the take has failed and its reservation ended
    rig.run()
    monkeypatch.undo()
    rig.clock.advance(31)
    # Not counted as under way for ever (faxd status, report pacing, the takers' limit),
    # and looked at again like any document whose take failed.
    rig.run_until_idle(timeout=10)
    assert rig.jobs() == ["a.pdf"]
