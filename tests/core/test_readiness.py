"""When a file counts as completely written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from faxd.core.readiness import Snapshot, observe, ready_at, touched

SNAP = Snapshot(size=100, mtime=1000.0, ino=7)


def test_a_file_untouched_since_before_start_up_is_ready_at_once() -> None:
    track = observe(None, SNAP, now=5000.0)
    assert ready_at(track, settle=1.0, sidecar_wait=10.0, has_sidecar=False) <= 5000.0


def test_a_new_file_waits_for_settle_and_for_a_possible_sidecar() -> None:
    fresh = Snapshot(size=100, mtime=999.9, ino=7)
    track = observe(None, fresh, now=1000.0)
    assert ready_at(track, settle=1.0, sidecar_wait=0.0, has_sidecar=False) == 1000.9
    assert ready_at(track, settle=1.0, sidecar_wait=10.0, has_sidecar=False) == 1009.9
    assert ready_at(track, settle=1.0, sidecar_wait=10.0, has_sidecar=True) == 1000.9


def test_any_change_restarts_the_settle_time() -> None:
    track = observe(None, SNAP, now=1000.0)
    grown = observe(track, Snapshot(size=200, mtime=1000.5, ino=7), now=1000.5)
    assert grown.changed_at == 1000.5
    replaced = observe(grown, Snapshot(size=200, mtime=1000.5, ino=8), now=1001.0)
    assert replaced.changed_at == 1001.0
    same = observe(replaced, replaced.snap, now=1005.0)
    assert same.changed_at == 1001.0


def test_watcher_activity_counts_as_a_change() -> None:
    track = observe(None, SNAP, now=2000.0)
    assert touched(track, 2003.0).changed_at == 2003.0
    assert touched(track, 1.0).changed_at == track.changed_at  # never moves backwards


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30),
    gap=st.floats(min_value=0.01, max_value=0.9),
    settle=st.floats(min_value=1.0, max_value=5.0),
)
def test_a_file_that_keeps_growing_is_never_ready(
    sizes: list[int], gap: float, settle: float
) -> None:
    now = 10_000.0
    track = observe(None, Snapshot(0, now, 1), now)
    for i, size in enumerate(sizes):
        now += gap
        track = observe(track, Snapshot(size + i + 1, now, 1), now)
        assert ready_at(track, settle, 0.0, has_sidecar=True) > now
