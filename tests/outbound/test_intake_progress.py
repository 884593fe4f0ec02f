"""What IntakeProgress says is stuck, on a fake clock."""

from __future__ import annotations

from pathlib import Path

from faxd.clock import FakeClock
from faxd.outbound.intake_progress import IntakeProgress

LOOP, TAKE = 60.0, 300.0


def test_a_silent_loop_is_said_before_a_long_take() -> None:
    clock = FakeClock()
    progress = IntakeProgress(clock)
    progress.take_started(Path("/spool/a.pdf"))
    clock.advance(LOOP - 1)
    assert progress.stalled(LOOP, TAKE) is None
    clock.advance(1)
    assert progress.stalled(LOOP, TAKE) == "the intake has not gone round for 60 s"
    progress.turned()
    assert progress.stalled(LOOP, TAKE) is None


def test_the_oldest_take_is_named_and_an_ended_one_is_forgotten() -> None:
    clock = FakeClock()
    progress = IntakeProgress(clock)
    progress.take_started(Path("/nas/old.pdf"))
    clock.advance(100)
    progress.take_started(Path("/local/new.pdf"))
    clock.advance(TAKE - 100)
    progress.turned()
    assert progress.stalled(LOOP, TAKE) == "taking /nas/old.pdf has not finished for 300 s"
    progress.take_ended(Path("/nas/old.pdf"))
    assert progress.stalled(LOOP, TAKE) is None  # new.pdf: 200 s so far
    clock.advance(100)
    progress.turned()
    assert progress.stalled(LOOP, TAKE) == "taking /local/new.pdf has not finished for 300 s"
