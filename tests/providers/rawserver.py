"""A tiny HTTP server on a real loopback socket whose misbehaviour is chosen per test.

The HTTP layer has to tell "never sent" from "maybe processed", which only real sockets
show honestly: a mock cannot accept a request and then drop the connection."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

# A key that must never show up in an error message, a repr or a log line.
CANARY_KEY = "canary-7f3e9b1c-d00d-4bad-9e11-5ec12e7ca7a1"


@dataclass
class Received:
    head: bytes
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


Behaviour = Callable[[socket.socket, "RawServer"], None]


@dataclass
class RawServer:
    """Accepts connections on 127.0.0.1 and hands each to `behaviour` in its own thread."""

    behaviour: Behaviour
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, name="rawserver", daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return
            self.behaviour(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def read_request(self, conn: socket.socket) -> Received:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        request = Received(head, b"")
        length = int(request.header("Content-Length") or 0)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        request.body = body
        self.received.append(request)
        return request

    def stop(self) -> None:
        self.stopping.set()
        self._sock.close()
        self._accept.join(5)
        for worker in self._threads:
            worker.join(5)


def respond(status: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Behaviour:
    """Read the request, send a fixed answer, close."""

    def behaviour(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        all_headers = {"Content-Length": str(len(body)), "Connection": "close"}
        all_headers.update(headers or {})
        lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in all_headers.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body)

    return behaviour


def close_on_accept(conn: socket.socket, server: RawServer) -> None:
    """Drop the connection at once, without reading anything."""


def close_after_request(conn: socket.socket, server: RawServer) -> None:
    """Read the whole request, then close without answering."""
    server.read_request(conn)


def hang_after_request(conn: socket.socket, server: RawServer) -> None:
    """Read the whole request and never answer (until the server stops)."""
    server.read_request(conn)
    server.stopping.wait(10)


def truncated(conn: socket.socket, server: RawServer) -> None:
    """Answer 200 with a Content-Length of 100 but only 10 bytes of body."""
    server.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
