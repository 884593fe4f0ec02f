"""A delivery's deadline covers opening its connection, against real sockets on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from faxd.channels.deadline import Deadline


@contextmanager
def full_backlog() -> Iterator[tuple[str, int]]:
    """A listening socket that never accepts, its backlog filled: a new connection's SYN
    goes unanswered, as to an address routed nowhere; yields its address."""
    with ExitStack() as stack:
        listener = stack.enter_context(socket.create_server(("127.0.0.1", 0), backlog=0))
        address = listener.getsockname()
        while True:
            waiting = stack.enter_context(socket.socket())
            waiting.settimeout(0.3)
            try:
                waiting.connect(address)
            except TimeoutError:
                break  # the backlog is full
        yield address


def test_a_connect_gets_at_most_the_time_left() -> None:
    # Each address had the whole `timeout` (here 30 s) however little of the deadline was left.
    with full_backlog() as address, Deadline(1.0) as deadline:
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            deadline.connect(address, 30.0)
        took = time.monotonic() - began
        assert deadline.passed
    assert took < 1 + 2


def test_no_connect_once_the_deadline_has_passed() -> None:
    with full_backlog() as address, Deadline(0.1) as deadline:
        time.sleep(0.2)
        with pytest.raises(TimeoutError):
            deadline.connect(address, 30.0)
