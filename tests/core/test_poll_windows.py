"""Window arithmetic and splitting (windows.py): the parts cover the window exactly, with
inclusive bounds, and a simulated provider that cuts listings at the page limit loses
nothing outside windows that cannot be split further."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faxd.core.poll_windows import (
    FINE_BUDGET,
    ZONE_MARGIN,
    Leaf,
    Unlistable,
    Window,
    floor_second,
    poll_window,
    split,
    walk,
    watermark_after,
)

BASE = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
DAY = 86400


def window(start: int, width: int) -> Window:
    return Window(BASE + timedelta(seconds=start), BASE + timedelta(seconds=start + width))


def split_all(w: Window, choices: st.DataObject, depth: int = 0) -> list[Window]:
    """Split recursively, where hypothesis chooses, down to windows that cannot split."""
    halves = split(w)
    if halves is None or depth > 12 or not choices.draw(st.booleans()):
        return [w]
    return split_all(halves[0], choices, depth + 1) + split_all(halves[1], choices, depth + 1)


@settings(deadline=None)  # timing varies with machine load; the properties do not
@given(
    start=st.integers(-10 * DAY, 10 * DAY),
    width=st.integers(0, 400 * DAY),
    data=st.data(),
)
def test_split_parts_cover_the_window_exactly(start: int, width: int, data: st.DataObject) -> None:
    whole = window(start, width)
    parts = split_all(whole, data)
    assert parts[0].start == whole.start
    assert parts[-1].end == whole.end
    for left, right in itertools.pairwise(parts):
        # Consecutive parts share exactly their boundary instant: nothing between them.
        assert left.end == right.start
    # Any instant of the window, fractions of a second included, lies in some part.
    offset = data.draw(st.floats(0, float(width), allow_nan=False))
    moment = whole.start + timedelta(seconds=offset)
    if moment > whole.end:
        moment = whole.end
    assert any(p.contains(moment) for p in parts)


@settings(deadline=None)  # timing varies with machine load; the properties do not
@given(start=st.integers(-DAY, DAY), width=st.integers(0, 100 * DAY))
def test_split_halves_are_strictly_narrower_until_two_seconds(start: int, width: int) -> None:
    whole = window(start, width)
    halves = split(whole)
    if width < 2:
        assert halves is None
        return
    assert halves is not None
    left, right = halves
    assert left.width < whole.width and right.width < whole.width
    assert left.width + right.width == whole.width
    assert all(h.start.microsecond == 0 and h.end.microsecond == 0 for h in halves)


@settings(deadline=None)  # timing varies with machine load; the properties do not
@given(
    times=st.lists(st.integers(0, 3000), max_size=300),
    start=st.integers(0, 3000),
    width=st.integers(0, 3000),
    limit=st.integers(2, 12),
)
def test_walk_lists_every_document_unless_a_second_is_overfull(
    times: list[int], start: int, width: int, limit: int
) -> None:
    """A provider that lists the first `limit` documents by time, bounds inclusive."""
    docs = [(f"d{i}", BASE + timedelta(seconds=t)) for i, t in enumerate(times)]
    whole = window(start, width)
    calls: list[Window] = []

    def listing(w: Window) -> list[tuple[str, datetime]]:
        calls.append(w)
        found = sorted((d for d in docs if w.start <= d[1] <= w.end), key=lambda d: (d[1], d[0]))
        return found[:limit]

    leaves: list[Leaf[tuple[str, datetime]]] = list(walk(whole, listing, limit))
    seen = {doc_id for leaf in leaves for doc_id, _ in leaf.items}
    expected = {doc_id for doc_id, t in docs if whole.contains(t)}
    missed = expected - seen
    # Oldest first, and the leaves tile the window.
    assert leaves[0].window.start == whole.start and leaves[-1].window.end == whole.end
    for left, right in itertools.pairwise(leaves):
        assert left.window.end == right.window.start
    for leaf in leaves:
        assert leaf.truncated == (len(leaf.items) >= limit)
        if leaf.truncated:
            assert split(leaf.window) is None
    # Whatever was missed sits in a window that could not be split any further.
    times_by_id = dict(docs)
    for doc_id in missed:
        assert any(leaf.truncated and leaf.window.contains(times_by_id[doc_id]) for leaf in leaves)
    if not any(leaf.truncated for leaf in leaves):
        assert seen == expected


def test_walk_is_lazy_so_progress_can_be_recorded_leaf_by_leaf() -> None:
    calls: list[Window] = []

    def listing(w: Window) -> list[int]:
        calls.append(w)
        return [1, 2] if w.width > timedelta(seconds=4) else [1]

    leaves = walk(window(0, 8), listing, page_limit=2)
    first = next(leaves)
    assert first.window == window(0, 4)
    assert calls == [window(0, 8), window(0, 4)]
    assert next(leaves).window == window(4, 4)
    assert len(calls) == 3


def test_first_poll_looks_back_and_later_polls_overlap_the_watermark() -> None:
    now = BASE + timedelta(seconds=0.75)
    first = poll_window(None, now, timedelta(days=1), timedelta(minutes=10))
    assert first == Window(BASE - timedelta(days=1), BASE)
    watermark = BASE - timedelta(days=30)  # down for a month: continue from there anyway
    later = poll_window(watermark, now, timedelta(days=1), timedelta(minutes=10))
    assert later == Window(watermark - timedelta(minutes=10), BASE)


def test_a_watermark_in_the_future_counts_as_now() -> None:
    future = BASE + timedelta(hours=5)
    got = poll_window(future, BASE, timedelta(days=1), timedelta(minutes=10))
    assert got == Window(BASE - timedelta(minutes=10), BASE)


@settings(deadline=None)  # timing varies with machine load; the properties do not
@given(
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    back=st.integers(0, 400 * DAY),
    lookback=st.integers(0, 30 * DAY),
    overlap=st.integers(0, DAY),
    fresh=st.booleans(),
)
def test_poll_window_is_valid_and_reaches_now(
    now: datetime, back: int, lookback: int, overlap: int, fresh: bool
) -> None:
    watermark = None if fresh else now - timedelta(seconds=back)
    got = poll_window(watermark, now, timedelta(seconds=lookback), timedelta(seconds=overlap))
    assert got.end == floor_second(now)
    assert got.start <= got.end
    if watermark is not None:
        # Never starts after the watermark minus the overlap: nothing since then is skipped.
        assert got.start <= watermark - timedelta(seconds=overlap)


def test_windows_refuse_naive_or_fractional_or_reversed_bounds() -> None:
    with pytest.raises(ValueError, match="aware"):
        Window(datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="whole second"):
        Window(BASE, BASE + timedelta(microseconds=5))
    with pytest.raises(ValueError, match="before it starts"):
        Window(BASE, BASE - timedelta(seconds=1))


# -- overfull seconds and the unknown zone ----------------------------------------------


def fractional_listing(
    docs: list[tuple[str, datetime]], limit: int, calls: list[Window]
) -> Callable[[Window], list[tuple[str, datetime]]]:
    def listing(w: Window) -> list[tuple[str, datetime]]:
        calls.append(w)
        found = sorted((d for d in docs if w.start <= d[1] <= w.end), key=lambda d: (d[1], d[0]))
        return found[:limit]

    return listing


def test_an_overfull_second_is_split_in_fractions_when_the_provider_keeps_them() -> None:
    second = BASE + timedelta(seconds=100)
    ours = [(f"out{i}", second + timedelta(milliseconds=5 * i + 1)) for i in range(100)]
    hidden = ("inbound", second + timedelta(milliseconds=900))
    calls: list[Window] = []
    leaves = list(walk(window(0, 200), fractional_listing([*ours, hidden], 100, calls), 100))
    seen = {doc_id for leaf in leaves for doc_id, _ in leaf.items}
    assert "inbound" in seen and len(seen) == 101
    assert not any(leaf.truncated for leaf in leaves)
    assert any(leaf.window.fine for leaf in leaves)
    for left, right in itertools.pairwise(leaves):
        assert left.window.end == right.window.start


def test_a_provider_without_fractions_leaves_the_second_truncated_within_the_budget() -> None:
    second = BASE + timedelta(seconds=100)
    docs = [(f"d{i}", second) for i in range(12)]  # all on the very same instant
    calls: list[Window] = []
    leaves = list(walk(window(0, 200), fractional_listing(docs, 5, calls), 5))
    truncated = [leaf for leaf in leaves if leaf.truncated]
    # Both whole-second windows sharing that instant stay cut off, none of their parts.
    assert truncated and all(leaf.window.contains(second) for leaf in truncated)
    assert not any(leaf.window.fine for leaf in truncated)
    assert sum(1 for w in calls if w.fine) <= FINE_BUDGET * len(truncated)


def test_a_listing_that_refuses_fractions_leaves_the_second_truncated() -> None:
    docs = [(f"d{i}", BASE + timedelta(seconds=1)) for i in range(7)]

    def listing(w: Window) -> list[tuple[str, datetime]]:
        if w.fine:
            raise Unlistable("400")
        return [d for d in docs if w.start <= d[1] <= w.end][:5]

    (leaf,) = walk(window(0, 1), listing, 5)
    assert leaf.truncated and len(leaf.items) == 5


@settings(deadline=None)
@given(
    now=st.integers(0, 400 * DAY),
    back=st.integers(0, 10 * DAY),
    skew_minutes=st.integers(-26 * 60, 26 * 60),
)
def test_a_document_arriving_after_a_poll_is_in_the_next_window_whatever_the_zone(
    now: int, back: int, skew_minutes: int
) -> None:
    """The provider stamps in a zone up to 26 h away from the configured one: a document
    that arrives between two polls reads as arriving up to 26 h earlier or later."""
    overlap = timedelta(minutes=10)
    first_now = BASE + timedelta(seconds=now)
    first = poll_window(None, first_now, timedelta(days=1), overlap, ZONE_MARGIN)
    watermark = watermark_after(first.end, first_now)
    assert watermark <= first_now
    second_now = first_now + timedelta(seconds=back + 1)
    arrived = first_now + (second_now - first_now) / 2
    read_as = floor_second(arrived + timedelta(minutes=skew_minutes))
    second = poll_window(watermark, second_now, timedelta(days=1), overlap, ZONE_MARGIN)
    assert second.contains(read_as)
