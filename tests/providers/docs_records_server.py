"""A bare Generic DOCS on a real loopback socket, serving records exactly as a test writes
them (malformed ones included): a date-range Retrieve answers the records whose time lies
in the range (the server knows each record's time even when the record does not show it),
earliest first, at most `page_limit`; GET /File/{id} serves bytes (404 for an unknown or
refused file); DELETE /Delete is recorded and answered 204."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from faxd.settings import DocsProviderSettings, Secret

from .rawserver import RawServer


@dataclass
class DocsRecords:
    page_limit: int = 100
    records: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    deletes: list[str] = field(default_factory=list)
    retrieves: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, wall: datetime, record: dict[str, Any]) -> None:
        """A record whose time, as the server's offset-less wall clock, is `wall`."""
        self.records.append((wall, record))
        self.records.sort(key=lambda pair: pair[0])

    def behaviour(self, conn: socket.socket, server: RawServer) -> None:
        request = server.read_request(conn)
        method, path, _ = request.request_line.split(" ", 2)
        if method == "POST" and path.endswith("/Retrieve"):
            asked = json.loads(request.body)
            with self.lock:
                self.retrieves.append(asked)
            low = datetime.fromisoformat(asked["dateFrom"])
            high = datetime.fromisoformat(asked["dateTo"])
            found = [record for wall, record in self.records if low <= wall <= high]
            _answer(conn, "200 OK", json.dumps(found[: self.page_limit]).encode(), "json")
        elif method == "GET" and "/File/" in path:
            file_id = unquote(path.rsplit("/", 1)[1])
            data = self.files.get(file_id)
            if data is None or file_id in self.refused:
                _answer(conn, "404 Not Found", b'{"message":"not found"}', "json")
            else:
                _answer(conn, "200 OK", data, "pdf")
        elif method == "DELETE" and path.endswith("/Delete"):
            with self.lock:
                self.deletes.append(json.loads(request.body)["faxId"])
            _answer(conn, "204 No Content", b"", None)
        else:
            _answer(conn, "404 Not Found", b"", None)


def _answer(conn: socket.socket, status: str, body: bytes, kind: str | None) -> None:
    headers = {"Content-Length": str(len(body)), "Connection": "close"}
    if kind == "json":
        headers["Content-Type"] = "application/json"
    elif kind == "pdf":
        headers["Content-Type"] = "application/pdf"
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body)


@contextmanager
def docs_records_server(records: DocsRecords) -> Iterator[RawServer]:
    server = RawServer(records.behaviour)
    try:
        yield server
    finally:
        server.stop()


def docs_settings(server: RawServer, key: str, read_timeout: float) -> DocsProviderSettings:
    """Provider settings for a Generic DOCS account at `server`."""
    return DocsProviderSettings(
        name="docs",
        api_key=Secret(key),
        base_url=server.url + "/Docs/api/v2",
        connect_timeout=2.0,
        read_timeout=read_timeout,
    )
