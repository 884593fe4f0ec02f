"""The `rig` fixture: an engine with a scripted provider (tests/outbound/engine_rig.py);
a test module that needs another one defines its own. `intake_rig`: the intake alone
(tests/outbound/test_intake.py's IntakeRig)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .engine_rig import Rig
from .test_intake import IntakeRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


@pytest.fixture
def intake_rig(tmp_path: Path) -> Iterator[IntakeRig]:
    r = IntakeRig(tmp_path)
    yield r
    r.journal.close()
