"""One delivery's deadline. A channel's `timeout` bounds each wait for the server, not
the delivery: a server trickling one byte a second held a channel with a 3 s timeout for
37 s, and everything queued behind it. At the deadline the connection is shut down under
the thread that reads it, whose read then fails at once."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.passed = False
        self._over = False
        self._lock = threading.Lock()
        self._cuts: list[Callable[[], None]] = []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._over = True  # a timer already firing must not cut a kept connection
        self._timer.cancel()

    def watch(self, cut: Callable[[], None]) -> None:
        """Have `cut` called at the deadline, or now if it has passed: a connection made
        just as it passed would otherwise be missed, and read for as long as it trickles."""
        with self._lock:
            self._cuts.append(cut)
            passed = self.passed
        if passed:
            cut()

    def _fire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.passed = True
            cuts = list(self._cuts)
        for cut in cuts:
            cut()


def cut(sock: socket.socket | None) -> None:
    """Shut a connection down for both sides; its reader sees the end at once (closing it
    instead would leave the reader blocked on a descriptor that may be reused)."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
