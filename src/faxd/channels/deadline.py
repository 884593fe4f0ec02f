"""One delivery's deadline. A channel's `timeout` bounds each wait for the server, not
the delivery: a server trickling one byte a second held a channel with a 3 s timeout for
37 s, and everything queued behind it. At the deadline the connection is shut down under
the thread that reads it, whose read then fails at once.

Opening a connection counts too: each address is tried for at most the time left, and
the connection is watched from the moment its socket exists, so a slow TLS handshake or
proxy tunnel is cut like a slow answer."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._fired = False
        self._over = False
        self._lock = threading.Lock()
        self._cuts: list[Callable[[], None]] = []
        self._copies: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._ends = time.monotonic() + self.seconds
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._over = True  # a timer already firing must not cut a kept connection
            copies, self._copies = self._copies, []
        self._timer.cancel()
        for copy in copies:
            copy.close()

    @property
    def passed(self) -> bool:
        # By the clock as well: a connect given only the time left ends with it, maybe
        # a moment before the timer's thread has run.
        return self._fired or self.left() == 0

    def left(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    def watch(self, cut: Callable[[], None]) -> None:
        """Have `cut` called at the deadline, or now if it has passed: a connection made
        just as it passed would otherwise be missed, and read for as long as it trickles."""
        with self._lock:
            self._cuts.append(cut)
        if self.passed:
            cut()

    def watch_socket(self, sock: socket.socket) -> None:
        """Cut `sock`'s connection at the deadline, also once TLS has wrapped it: wrapping
        takes the descriptor away from `sock`, so a copy of the descriptor is cut, which
        stays ours until the deadline is over (never one reused by another connection)."""
        copy = sock.dup()
        with self._lock:
            self._copies.append(copy)
        self.watch(functools.partial(cut, copy))

    def connect(
        self,
        address: tuple[str, int],
        timeout: float,
        *,
        source_address: Any = None,
        options: Iterable[tuple[int, int, int | bytes]] = (),
    ) -> socket.socket:
        """socket.create_connection, watched, with each address tried for `timeout` but
        at most the time left: a receiver that never answers the SYN (a full backlog, an
        address routed nowhere) is otherwise waited for `timeout` per address."""
        host, port = address
        failure: OSError = OSError(f"{host} has no address")
        for family, kind, proto, _, where in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            sock = socket.socket(family, kind, proto)
            try:
                self._connect(sock, where, timeout, source_address, options)
            except OSError as exc:
                sock.close()
                if self.passed:  # however it ended: cut, or given only what was left
                    raise TimeoutError("the deadline passed while connecting") from exc
                failure = exc
            else:
                return sock
        raise failure

    def _connect(
        self,
        sock: socket.socket,
        where: Any,
        timeout: float,
        source_address: Any,
        options: Iterable[tuple[int, int, int | bytes]],
    ) -> None:
        for option in options:
            sock.setsockopt(*option)
        if source_address is not None:
            sock.bind(source_address)
        left = self.left()
        if left == 0:
            raise TimeoutError("the deadline passed before connecting")
        sock.settimeout(min(timeout, left))
        self.watch_socket(sock)
        sock.connect(where)
        sock.settimeout(timeout)  # from here each wait has `timeout`, and the deadline cuts

    def _fire(self) -> None:
        # The cuts are made under the lock, so none can meet a copy `__exit__` closed.
        with self._lock:
            if self._over:
                return
            self._fired = True
            for cut in self._cuts:
                cut()


def cut(sock: socket.socket | None) -> None:
    """Shut a connection down for both sides; its reader sees the end at once (closing it
    instead would leave the reader blocked on a descriptor that may be reused)."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
