"""When a file counts as completely written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from faxd.core.readiness import (
    APPEARED_CLOSE_WAIT,
    ASK_AGAIN,
    Heard,
    Snapshot,
    Track,
    Writers,
    answered,
    ask_at,
    heard,
    observe,
    ready_at,
    touched,
)

SNAP = Snapshot(size=100, mtime=1000.0, ino=7)
CLOSE_WAIT = 300.0  # the folder's rescan_interval


def test_a_file_untouched_since_before_start_up_is_ready_at_once() -> None:
    track = observe(None, SNAP, now=5000.0)
    assert (
        ready_at(track, settle=1.0, sidecar_wait=10.0, has_sidecar=False, close_wait=CLOSE_WAIT)
        <= 5000.0
    )


def test_a_new_file_waits_for_settle_and_for_a_possible_sidecar() -> None:
    fresh = Snapshot(size=100, mtime=999.9, ino=7)
    track = observe(None, fresh, now=1000.0)
    assert (
        ready_at(track, settle=1.0, sidecar_wait=0.0, has_sidecar=False, close_wait=CLOSE_WAIT)
        == 1000.9
    )
    assert (
        ready_at(track, settle=1.0, sidecar_wait=10.0, has_sidecar=False, close_wait=CLOSE_WAIT)
        == 1009.9
    )
    assert (
        ready_at(track, settle=1.0, sidecar_wait=10.0, has_sidecar=True, close_wait=CLOSE_WAIT)
        == 1000.9
    )


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
        assert ready_at(track, settle, 0.0, has_sidecar=True, close_wait=CLOSE_WAIT) > now


def _ready(track: Track, settle: float = 1.0) -> float:
    return ready_at(track, settle, 0.0, has_sidecar=True, close_wait=CLOSE_WAIT)


def _heard_all(events: list[tuple[Heard, int, float]]) -> Track:
    """Fold (event, size, time) into a track as the intake does, mtime following writes."""
    track: Track | None = None
    for what, size, now in events:
        track = heard(track, Snapshot(size, now, 1), what, now)
    assert track is not None
    return track


def test_a_file_held_open_between_writes_waits_for_its_close() -> None:
    # The scanner case: first page written, the file kept open while the next is placed.
    track = _heard_all([("created", 0, 1000.0), ("written", 50, 1000.1)])
    assert _ready(track) > 1000.1 + 60  # quiet far longer than settle, still not done
    track = heard(track, Snapshot(100, 1010.0, 1), "written", 1010.0)
    closed = heard(track, track.snap, "closed", 1010.2)
    assert _ready(closed) == 1011.2  # settle after the close


def test_a_close_followed_by_another_write_does_not_count() -> None:
    # write, close, reopen, write: not ready until the next close.
    track = _heard_all([("created", 0, 1000.0), ("written", 10, 1000.1), ("closed", 10, 1000.2)])
    assert _ready(track) == 1001.2
    track = heard(track, Snapshot(20, 1000.5, 1), "written", 1000.5)
    assert _ready(track) > 1000.5 + 60
    track = heard(track, track.snap, "closed", 1003.0)
    assert _ready(track) == 1004.0


def test_a_copy_is_ready_settle_after_its_close_as_before() -> None:
    events: list[tuple[Heard, int, float]] = [
        ("created", 0, 1000.0),
        ("written", 4096, 1000.01),
        ("written", 8192, 1000.02),
        ("closed", 8192, 1000.03),
    ]
    assert _ready(_heard_all(events), settle=1.0) == 1001.03


def test_a_missed_close_waits_the_rescan_interval_not_forever() -> None:
    track = _heard_all([("created", 0, 1000.0), ("written", 10, 1000.1)])
    assert _ready(track) == 1000.1 + CLOSE_WAIT


def test_a_scan_neither_closes_nor_restarts_the_wait() -> None:
    track = _heard_all([("created", 0, 1000.0), ("written", 10, 1000.1)])
    scanned = heard(track, track.snap, "found", 1200.0)
    assert scanned.unclosed
    assert scanned.changed_at == 1000.1  # else each rescan would put the file off again
    grown = heard(track, Snapshot(20, 1200.0, 1), "found", 1200.0)
    assert grown.changed_at == 1200.0  # what a scan sees change still counts


def test_files_without_word_of_closes_keep_the_quiet_rule() -> None:
    # Found by a scan, or any event of a polled folder ("touched"), or a change of mode.
    found = heard(None, Snapshot(10, 999.5, 1), "found", 1000.0)
    assert _ready(found) == 1000.5
    polled = _heard_all([("touched", 10, 1000.0), ("touched", 20, 1002.0)])
    assert not polled.unclosed
    assert _ready(polled) == 1003.0


def test_created_empty_waits_for_its_writer_created_whole_does_not() -> None:
    assert heard(None, Snapshot(0, 1000.0, 1), "created", 1000.0).unclosed
    # A file moved in from outside the folder, which watchdog reports as created.
    moved_in = heard(None, Snapshot(500, 900.0, 1), "created", 1000.0)
    assert not moved_in.unclosed
    assert _ready(moved_in) <= 1000.0  # written long ago: ready at once, as before
    # Renamed into place after being written open: the rename is its close.
    track = _heard_all([("written", 10, 1000.0), ("closed", 10, 1000.5)])
    assert _ready(track) == 1001.5


@given(
    events=st.lists(st.sampled_from(["written", "touched", "found"]), max_size=20),
    gaps=st.lists(st.floats(min_value=0.0, max_value=50.0), min_size=20, max_size=20),
    settle=st.floats(min_value=0.1, max_value=5.0),
)
def test_a_write_with_no_close_after_it_is_never_ready_within_the_close_wait(
    events: list[Heard], gaps: list[float], settle: float
) -> None:
    now = 10_000.0
    track = heard(None, Snapshot(0, now, 1), "written", now)
    for i, (what, gap) in enumerate(zip(events, gaps, strict=False)):
        now += gap
        track = heard(track, Snapshot(i + 1, now, 1), what, now)
    assert track.unclosed
    assert ready_at(track, settle, 0.0, has_sidecar=True, close_wait=CLOSE_WAIT) >= now + CLOSE_WAIT


def test_a_file_that_appeared_in_a_new_folder_waits_for_a_close_at_most_30_s() -> None:
    # Written before its folder was watched (the folder created a moment before): the
    # writer may still have it open, and a pause longer than settle sent half of it.
    appeared = heard(None, Snapshot(14, 999.9, 1), "appeared", 1000.0)
    assert appeared.unclosed
    assert _ready(appeared) == 999.9 + 30.0  # not settle; not the whole rescan_interval
    # Its writer goes on, and closes: settle after the close, as for any heard file.
    written = heard(appeared, Snapshot(28, 1003.0, 1), "written", 1003.0)
    assert _ready(written) == 1003.0 + CLOSE_WAIT  # heard open now: the real wait
    closed = heard(written, written.snap, "closed", 1003.1)
    assert _ready(closed) == 1004.1
    # Moved in whole long ago (mv of a folder): ready at once.
    old = heard(None, Snapshot(14, 500.0, 1), "appeared", 1000.0)
    assert _ready(old) <= 1000.0
    # A file the watcher already heard of keeps what it heard.
    heard_closed = _heard_all(
        [("created", 0, 1000.0), ("written", 9, 1000.1), ("closed", 9, 1000.2)]
    )
    assert not heard(heard_closed, heard_closed.snap, "appeared", 1000.3).unclosed


def test_created_with_content_is_no_close_for_a_file_that_appeared() -> None:
    # watchdog reports such a file twice, in either order: found by its walk of the new
    # folder, and created (with its first page already in it).
    snap = Snapshot(44, 1000.0, 1)
    orders: list[tuple[Heard, Heard]] = [("appeared", "created"), ("created", "appeared")]
    for first, second in orders:
        track = heard(heard(None, snap, first, 1000.0), snap, second, 1000.01)
        assert track.unclosed and track.assumed_open, (first, second)
        assert _ready(track) == track.changed_at + 30.0


def test_the_kernel_is_asked_about_a_file_that_appeared_once_it_settles() -> None:
    appeared = heard(None, Snapshot(14, 999.9, 1), "appeared", 1000.0)
    assert ask_at(appeared, 1.0) == 1000.9
    assert _ready(appeared) == 999.9 + APPEARED_CLOSE_WAIT  # until it is answered
    # Nobody has it open: a close, as good as heard; a second scan's look keeps that.
    closed = answered(appeared, "none", 1000.9)
    assert _ready(closed) == 1000.9
    assert ask_at(closed, 1.0) is None
    assert _ready(heard(closed, closed.snap, "appeared", 1001.0)) == 1000.9
    # Opened and written again, from now on heard like any file.
    written = heard(closed, Snapshot(28, 1002.0, 1), "written", 1002.0)
    assert _ready(written) == 1002.0 + CLOSE_WAIT


def test_a_writer_the_kernel_sees_is_waited_for_like_one_heard() -> None:
    appeared = heard(None, Snapshot(14, 999.9, 1), "appeared", 1000.0)
    open_ = answered(appeared, "writing", 1000.9)
    assert _ready(open_) == 999.9 + CLOSE_WAIT  # not APPEARED_CLOSE_WAIT: it is open
    assert ask_at(open_, 1.0) == 1000.9 + ASK_AGAIN  # where no close is heard
    assert heard(open_, open_.snap, "appeared", 1001.0) == open_
    still = answered(open_, "writing", 1001.9)
    assert ask_at(still, 1.0) == 1001.9 + ASK_AGAIN
    assert _ready(answered(still, "none", 1002.9)) == 1000.9  # closed, quiet since 999.9
    closed = heard(still, Snapshot(28, 1003.0, 1), "closed", 1003.0)
    assert _ready(closed) == 1004.0
    assert ask_at(closed, 1.0) is None


def test_without_an_answer_a_file_that_appeared_waits_as_before() -> None:
    appeared = heard(None, Snapshot(14, 999.9, 1), "appeared", 1000.0)
    unanswered: list[Writers] = ["unknown", "refused"]
    for answer in unanswered:
        track = answered(appeared, answer, 1000.9)
        assert ask_at(track, 1.0) is None  # asked once
        assert _ready(track) == 999.9 + APPEARED_CLOSE_WAIT
