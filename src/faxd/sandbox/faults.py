"""Injected faults: rules that make the emulator misbehave the way real services do.

A rule names the API and endpoint it applies to, what to do (answer an error status
instead of processing, or after processing as a gateway that timed out does; drop the
connection before or after processing; answer slowly, stream the body slowly) and how
many times; `match` narrows it to requests for one recipient."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

APIS = ("docs", "retarus")
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "docs": ("send", "retrieve", "file", "delete", "check_dft", "any"),
    "retarus": ("submit", "report", "reports", "any"),
}
ACTIONS = ("status", "status_after", "drop_before", "drop_after", "slow", "slow_body")
_KEYS = frozenset(
    {"api", "endpoint", "action", "status", "retry_after", "delay", "times", "match", "chunk"}
)


@dataclass
class FaultRule:
    api: str
    endpoint: str
    action: str
    status: int = 503
    retry_after: str | None = None
    delay: float = 1.0
    # None: never spent ("times: always")
    times: int | None = 1
    match: str | None = None
    chunk: int = 65536

    def applies(self, api: str, endpoint: str) -> bool:
        return self.api == api and self.endpoint in ("any", endpoint)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.times is None:
            data["times"] = "always"
        return data


def parse_fault(raw: object, where: str) -> FaultRule:
    """Build a rule from scenario/JSON data; ValueError names `where` and the bad key."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: a fault must be a mapping with api, endpoint and action.")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r}; allowed keys are {', '.join(sorted(_KEYS))}."
        )
    api = raw.get("api")
    if api not in APIS:
        raise ValueError(f"{where}.api: must be one of {', '.join(APIS)}, not {api!r}.")
    endpoint = raw.get("endpoint", "any")
    if endpoint not in ENDPOINTS[api]:
        raise ValueError(
            f"{where}.endpoint: must be one of {', '.join(ENDPOINTS[api])} for {api}, "
            f"not {endpoint!r}."
        )
    action = raw.get("action")
    if action not in ACTIONS:
        raise ValueError(f"{where}.action: must be one of {', '.join(ACTIONS)}, not {action!r}.")
    status = raw.get("status", 503)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"{where}.status: must be an HTTP error status 400-599, not {status!r}.")
    retry_after = raw.get("retry_after")
    if retry_after is not None:
        if isinstance(retry_after, bool) or not isinstance(retry_after, str | int):
            raise ValueError(f"{where}.retry_after: must be seconds or an HTTP-date string.")
        retry_after = str(retry_after)
        if not retry_after.isprintable() or not retry_after.isascii():
            raise ValueError(f"{where}.retry_after: must be printable ASCII.")
    delay = raw.get("delay", 1.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise ValueError(f"{where}.delay: must be a number of seconds >= 0, not {delay!r}.")
    times_raw = raw.get("times", 1)
    times: int | None
    if times_raw == "always":
        times = None
    elif isinstance(times_raw, int) and not isinstance(times_raw, bool) and times_raw >= 1:
        times = times_raw
    else:
        raise ValueError(f"{where}.times: must be a whole number >= 1 or 'always'.")
    match = raw.get("match")
    if match is not None and (not isinstance(match, str) or not match):
        raise ValueError(f"{where}.match: must be a non-empty string (part of a number).")
    chunk = raw.get("chunk", 65536)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"{where}.chunk: must be a whole number of bytes >= 1.")
    return FaultRule(
        api=api,
        endpoint=endpoint,
        action=action,
        status=status,
        retry_after=retry_after,
        delay=float(delay),
        times=times,
        match=match,
        chunk=chunk,
    )


class FaultBook:
    """The active rules; the first matching rule fires and is spent after `times`."""

    def __init__(self, rules: Iterable[FaultRule] = ()) -> None:
        self._lock = threading.Lock()
        # copies: counting a rule down must not change the scenario it came from
        self._rules: list[FaultRule] = [replace(rule) for rule in rules]
        self.fired: list[dict[str, Any]] = []

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(replace(rule))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(
        self, api: str, endpoint: str, recipients: Callable[[], Iterable[str]]
    ) -> FaultRule | None:
        """Return the rule that fires for this request, if any, and count it down.

        `recipients` is called only when a rule has `match`, because finding the numbers
        may mean parsing a large body."""
        with self._lock:
            needs_numbers = any(
                rule.match is not None and rule.applies(api, endpoint) for rule in self._rules
            )
        # outside the lock: finding the numbers may take the state lock (lock order)
        numbers = list(recipients()) if needs_numbers else []
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.applies(api, endpoint):
                    continue
                if rule.match is not None and not any(rule.match in n for n in numbers):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._rules[index]
                self.fired.append({"api": api, "endpoint": endpoint, "action": rule.action})
                return rule
            return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pending": [rule.to_dict() for rule in self._rules],
                "fired": [dict(item) for item in self.fired],
            }
