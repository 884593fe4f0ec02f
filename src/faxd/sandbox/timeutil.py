"""Time in the emulator: epoch seconds inside, the APIs' own formats outside."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_RELATIVE = re.compile(r"^\s*(now)?\s*([+-])\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def docs_time(epoch: float, tz: ZoneInfo) -> str:
    """Generic DOCS timestamps: local time in the account's zone, no offset."""
    return datetime.fromtimestamp(int(epoch), tz).strftime("%Y-%m-%dT%H:%M:%S")


def retarus_time(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_docs_time(text: str, tz: ZoneInfo) -> float:
    """A Retrieve bound: ISO-8601; without an offset it is local time in `tz`. Fractions
    of a second are kept: the emulated server stores finer times than it shows.

    Raises ValueError for anything that is not an ISO-8601 date or date-time."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def parse_moment(value: object, tz: ZoneInfo, now: float) -> float:
    """A scenario time: an ISO date-time (local in `tz` without offset; a fraction of a
    second is kept), a YAML timestamp, or relative to start-up such as `-2h`, `now`."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=tz)
        return moment.timestamp()
    if not isinstance(value, str):
        raise ValueError("must be an ISO date-time or a relative time such as -2h")
    if value.strip() == "now":
        return int(now)
    found = _RELATIVE.match(value)
    if found:
        amount = float(found.group(3)) * _UNIT[found.group(4)]
        return int(now - amount if found.group(2) == "-" else now + amount)
    try:
        return parse_docs_time(value, tz)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither an ISO date-time nor a relative time such as -2h"
        ) from None
