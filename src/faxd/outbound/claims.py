"""Which spool files belong to a job: those of journaled, unfiled jobs ("held"), and those
a document being taken right now has reserved ("taking").

Documents are taken on several threads at once, so "is this file free, then it is mine"
must be one step: two sidecars naming the same attachment, or an attachment taken on its
own while its sidecar's document is being taken, would otherwise send one file twice."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class Claims:
    def __init__(self, held: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._held: set[str] = set(held)
        self._taking: set[str] = set()

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return path in self._held or path in self._taking

    def being_taken(self, path: str) -> bool:
        """Reserved by a take under way (not yet, or no longer, a job's)."""
        with self._lock:
            return path in self._taking and path not in self._held

    def reserve(self, path: str) -> bool:
        """Reserve one file for a take; False when a job has it or another take reserved it."""
        with self._lock:
            if path in self._held or path in self._taking:
                return False
            self._taking.add(path)
            return True

    def reserve_free(self, paths: Iterable[str]) -> tuple[str, ...]:
        """Reserve the free ones among paths; returns those already claimed elsewhere."""
        claimed: list[str] = []
        with self._lock:
            for path in paths:
                if path in self._held or path in self._taking:
                    claimed.append(path)
                else:
                    self._taking.add(path)
        return tuple(claimed)

    def settle(self, reserved: Iterable[str], held: Iterable[str] = ()) -> None:
        """A take ended: its reservations go, and what its job kept is held, in one step so
        that no other take sees those files free in between."""
        with self._lock:
            self._taking.difference_update(reserved)
            self._held.update(held)

    def forget(self, paths: Iterable[str]) -> None:
        """A job was filed: its files are free again (a new file at the name is new work)."""
        with self._lock:
            self._held.difference_update(paths)

    def taking(self) -> int:
        with self._lock:
            return len(self._taking)
