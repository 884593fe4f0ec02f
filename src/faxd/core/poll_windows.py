"""Poll windows for the inbox: which time span to list, and how to split a span whose
listing may have been cut off at the provider's page limit (SPEC §2, NOTES rows 6 and 8).

The Generic DOCS listing takes `dateFrom`/`dateTo` in whole seconds, both inclusive, and
returns at most 100 documents. Windows here are closed intervals of whole seconds. A split
shares its middle instant between both halves: a document stamped exactly there (or at a
fraction of a second past it, should the provider keep fractions) is listed twice rather
than never, and the poller's journal drops the second sighting.

Pure: no clock, no I/O. `walk` drives a listing callback but does nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")

# Narrower than this a window cannot be split into two strictly smaller closed halves.
MIN_SPLIT_WIDTH = timedelta(seconds=2)


def floor_second(moment: datetime) -> datetime:
    """The whole second at or before `moment`, in UTC (the listing's resolution)."""
    if moment.tzinfo is None:
        raise ValueError("window times must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Window:
    """The closed interval [start, end]; both aware, in UTC, on whole seconds."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is None or moment.microsecond:
                raise ValueError(f"window bound {moment!r} must be aware and on a whole second")
        if self.end < self.start:
            raise ValueError(f"window ends ({self.end}) before it starts ({self.start})")

    @property
    def width(self) -> timedelta:
        return self.end - self.start

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


def poll_window(
    watermark: datetime | None, now: datetime, lookback: timedelta, overlap: timedelta
) -> Window:
    """The span the next poll lists.

    First start (no watermark): the last `lookback`. Afterwards: from the watermark minus
    `overlap`, so documents the provider lists late are still seen, up to now, however long
    faxd was down. A watermark in the future (the clock was set back) counts as now."""
    end = floor_second(now)
    start = end - lookback if watermark is None else min(floor_second(watermark), end) - overlap
    return Window(min(floor_second(start), end), end)


def split(window: Window) -> tuple[Window, Window] | None:
    """Two halves sharing the middle instant, or None when the window is too narrow."""
    if window.width < MIN_SPLIT_WIDTH:
        return None
    seconds = int(window.width.total_seconds())
    middle = window.start + timedelta(seconds=seconds // 2)
    return Window(window.start, middle), Window(middle, window.end)


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
    window: Window, listing: Callable[[Window], Sequence[T]], page_limit: int
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
            yield Leaf(current, items, truncated=True)
        else:
            yield Leaf(current, items, truncated=False)
