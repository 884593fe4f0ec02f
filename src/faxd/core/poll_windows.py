"""Poll windows for the inbox: which time span to list, and how to split a span whose
listing may have been cut off at the provider's page limit (100 documents for Generic DOCS).

The Generic DOCS listing takes `dateFrom`/`dateTo` in whole seconds, both inclusive, and
returns at most 100 documents. Windows here are closed intervals of whole seconds. A split
shares its middle instant between both halves: a document stamped exactly there (or at a
fraction of a second past it, should the provider keep fractions) is listed twice rather
than never, and the poller's journal drops the second sighting.

A window of one or two seconds that still fills a page cannot be split in whole seconds.
It is then split in fractions of a second (ISO-8601 bounds may carry them; a provider that
keeps finer times than it shows answers each part separately), within a budget of
listings: a provider that ignores fractions leaves the window `truncated`, and the caller
must say so and look at it again, never move past it silently.

The API's timestamps carry no offset and its zone is not documented, so the poller's
idea of a document's time may be off by up to the distance between two zones: windows
are widened by that margin on both sides (duplicates are the journal's business).

Pure: no clock, no I/O. `walk` drives a listing callback but does nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")

# Narrower than this a window cannot be split into two strictly smaller closed halves.
MIN_SPLIT_WIDTH = timedelta(seconds=2)
# Fraction-of-a-second splitting stops here, and after this many listings per window.
MIN_FINE_WIDTH = timedelta(milliseconds=1)
FINE_BUDGET = 32
# UTC-12:00 to UTC+14:00: how far apart the provider's zone and the configured one can be.
ZONE_MARGIN = timedelta(hours=26)


def floor_second(moment: datetime) -> datetime:
    """The whole second at or before `moment`, in UTC (the listing's resolution)."""
    if moment.tzinfo is None:
        raise ValueError("window times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Window:
    """The closed interval [start, end]; both aware, in UTC, on whole seconds (or, for
    the parts of an overfull second, `fine`: any microsecond)."""

    start: datetime
    end: datetime
    fine: bool = False

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is None or (moment.microsecond and not self.fine):
                raise ValueError(f"window bound {moment!r} must be aware and on a whole second")
        if self.end < self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")

    @property
    def width(self) -> timedelta:
        return self.end - self.start

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


def poll_window(
    watermark: datetime | None,
    now: datetime,
    lookback: timedelta,
    overlap: timedelta,
    margin: timedelta = timedelta(0),
) -> Window:
    """The span the next poll lists.

    First start (no watermark): the last `lookback`. Afterwards: from the watermark minus
    `overlap`, so documents the provider lists late are still seen, up to now, however long
    faxd was down. A watermark in the future (the clock was set back) counts as now. Both
    ends are widened by `margin` (the zone uncertainty): the watermark itself must never
    be set past `now`, see `watermark_after`."""
    end = floor_second(now)
    start = end - lookback if watermark is None else min(floor_second(watermark), end) - overlap
    return Window(min(floor_second(start), end) - margin, end + margin)


def watermark_after(leaf_end: datetime, now: datetime) -> datetime:
    """Where the watermark may move once a leaf is done: never past now, because a window
    widened beyond now by the zone margin has not seen what arrives until then."""
    return min(floor_second(leaf_end), floor_second(now))


def split(window: Window) -> tuple[Window, Window] | None:
    """Two halves sharing the middle instant, or None when the window is too narrow."""
    if window.width < MIN_SPLIT_WIDTH:
        return None
    seconds = int(window.width.total_seconds())
    middle = window.start + timedelta(seconds=seconds // 2)
    return Window(window.start, middle), Window(middle, window.end)


class Unlistable(Exception):
    """The listing cannot answer this (fine) window: the provider refuses fractions."""


def split_fine(window: Window) -> tuple[Window, Window] | None:
    """Two halves in fractions of a second, sharing the middle; None below MIN_FINE_WIDTH."""
    if window.width < 2 * MIN_FINE_WIDTH:
        return None
    middle = window.start + timedelta(microseconds=(window.width // timedelta(microseconds=1)) // 2)
    return Window(window.start, middle, fine=True), Window(middle, window.end, fine=True)


def is_truncated(count: int, page_limit: int) -> bool:
    """A listing that filled a whole page may have had more to say."""
    return count >= page_limit


@dataclass(frozen=True)
class Leaf(Generic[T]):
    """A window whose listing is complete (or could not be split further: `truncated`)."""

    window: Window
    items: Sequence[T]
    truncated: bool


def walk(
    window: Window,
    listing: Callable[[Window], Sequence[T]],
    page_limit: int,
    fine_budget: int = FINE_BUDGET,
) -> Iterator[Leaf[T]]:
    """List `window`, halving every part whose listing fills a page, and yield the complete
    parts oldest first. Lazy: each listing call happens only when the previous leaf has
    been consumed, so the caller can record progress leaf by leaf."""
    pending = [window]
    while pending:
        current = pending.pop()
        items = listing(current)
        if is_truncated(len(items), page_limit):
            halves = split(current)
            if halves is not None:
                pending.extend(reversed(halves))
                continue
            parts = _walk_fine(current, listing, page_limit, fine_budget)
            if parts is None:
                yield Leaf(current, items, truncated=True)
            else:
                yield from parts
        else:
            yield Leaf(current, items, truncated=False)


def _walk_fine(
    window: Window, listing: Callable[[Window], Sequence[T]], page_limit: int, budget: int
) -> list[Leaf[T]] | None:
    """An overfull window split in fractions of a second, or None when that does not end
    within `budget` listings (the provider does not honour fractions)."""
    halves = split_fine(window)
    if halves is None:
        return None
    pending = list(reversed(halves))
    leaves: list[Leaf[T]] = []
    calls = 0
    while pending:
        current = pending.pop()
        if calls >= budget:
            return None
        calls += 1
        try:
            items = listing(current)
        except Unlistable:
            return None
        if not is_truncated(len(items), page_limit):
            leaves.append(Leaf(current, items, truncated=False))
            continue
        parts = split_fine(current)
        if parts is None:
            return None
        pending.extend(reversed(parts))
    return leaves
