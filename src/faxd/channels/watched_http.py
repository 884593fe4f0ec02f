"""A requests session whose connections a `Deadline` can cut. requests' `timeout` bounds
each read, so a receiver trickling its answer's headers a byte at a time held a webhook
for as long as it liked; urllib3 gives no handle on the socket while it reads them.
Connections are opened by the deadline too: otherwise a TLS handshake or a proxy's
answer to CONNECT went on for as long as it trickled, and each address of the receiver
had the whole `timeout` to answer the SYN."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import socket
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.response import HTTPResponse

from faxd.channels.deadline import Deadline, cut

# The deadline of the delivery under way in this thread (each channel has its own).
_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "faxd_http_deadline", default=None
)


def _watch(conn: HTTPConnection) -> None:
    deadline = _CURRENT.get()
    if deadline is not None:
        deadline.watch(functools.partial(_cut, conn))


def _cut(conn: HTTPConnection) -> None:
    cut(conn.sock)


def _new_socket(conn: HTTPConnection, deadline: Deadline) -> socket.socket:
    """urllib3's own connect, with its errors, but within the deadline."""
    try:
        return deadline.connect(
            (conn._dns_host, conn.port),
            conn.timeout,  # type: ignore[arg-type]  # the connect timeout, a number here
            source_address=conn.source_address,
            options=conn.socket_options or (),
        )
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc


class _Connection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        deadline = _CURRENT.get()
        if deadline is None:
            return super()._new_conn()
        return _new_socket(self, deadline)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 has it
        _watch(self)  # a new connection or a kept one: the answer is read on it now
        return super().getresponse()


class _TlsConnection(_Connection, HTTPSConnection):
    """HTTPSConnection opens its socket with _Connection's `_new_conn`, then wraps it."""


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class _TlsPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TlsConnection


_POOLS = {"http": _Pool, "https": _TlsPool}


class _Adapter(HTTPAdapter):
    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def session() -> requests.Session:
    made = requests.Session()
    for prefix in ("http://", "https://"):
        made.mount(prefix, _Adapter())
    return made


@contextlib.contextmanager
def within(deadline: Deadline) -> Iterator[Deadline]:
    """Connections of sessions made by `session()` answer within `deadline` in here."""
    token = _CURRENT.set(deadline)
    try:
        with deadline:
            yield deadline
    finally:
        _CURRENT.reset(token)
