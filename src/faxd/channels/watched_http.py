"""A requests session whose connections a `Deadline` can cut. requests' `timeout` bounds
each read, so a receiver trickling its answer's headers a byte at a time held a webhook
for as long as it liked; urllib3 gives no handle on the socket while it reads them."""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
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


class _Connection(HTTPConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 has it
        _watch(self)  # a new connection or a kept one: the answer is read on it now
        return super().getresponse()


class _TlsConnection(HTTPSConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 has it
        _watch(self)
        return super().getresponse()


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
