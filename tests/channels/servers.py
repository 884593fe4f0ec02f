"""Real servers on loopback for channel tests: an SMTP server (aiosmtpd) with STARTTLS and
AUTH against a certificate made for the test, and an HTTP receiver checking signatures."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import hmac
import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SMTP_USER = "faxd"
SMTP_PASSWORD = "s3cret-smtp-Passw0rd"
WEBHOOK_SECRET = "hook-secret-7f3a9c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Received:
    envelope_to: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    def attachments(self) -> dict[str, str]:
        """file name -> sha256 of the content."""
        found = {}
        for part in self.message.iter_attachments():
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            found[str(part.get_filename())] = hashlib.sha256(data).hexdigest()
        return found


@dataclass
class SmtpBehaviour:
    """What the server answers: `temp_failures` DATA commands answered 451, then 250."""

    temp_failures: int = 0
    refuse: set[str] = field(default_factory=set)  # addresses answered 550 at RCPT
    defer: set[str] = field(default_factory=set)  # addresses answered 452 (mailbox full)
    data_delay: float = 0.0  # seconds between taking a mail and saying so


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.sink.behaviour.refuse:
            return "550 5.1.1 no such user"
        if address in self.sink.behaviour.defer:
            return "452 4.2.2 mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.sink.lock:
            if self.sink.behaviour.temp_failures > 0:
                self.sink.behaviour.temp_failures -= 1
                self.sink.refused += 1
                return "451 4.3.0 try again later"
            content = envelope.original_content or b""
            self.sink.received.append(Received(list(envelope.rcpt_tos), bytes(content)))
        if self.sink.behaviour.data_delay:
            await asyncio.sleep(self.sink.behaviour.data_delay)
        return "250 OK queued"


class _Auth:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USER
            and auth_data.password.decode() == self.sink.password
        )
        if ok:
            self.sink.logins += 1
        return AuthResult(success=ok, handled=False)


class SmtpSink:
    def __init__(
        self, tls: tuple[Path, Path] | None, *, auth: bool = True, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.refused = 0
        self.logins = 0
        self.lock = threading.Lock()
        self.behaviour = SmtpBehaviour()
        self.password = SMTP_PASSWORD
        kwargs: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            kwargs.update(tls_context=context, require_starttls=True)
        if auth:
            kwargs.update(
                authenticator=_Auth(self),
                auth_required=True,
                auth_require_tls=tls is not None,
            )
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **kwargs
        )

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@contextmanager
def smtp_sink(
    tls: tuple[Path, Path] | None, *, auth: bool = True, port: int | None = None
) -> Iterator[SmtpSink]:
    sink = SmtpSink(tls, auth=auth, port=port).start()
    try:
        yield sink
    finally:
        sink.stop()


@dataclass
class Hook:
    event_id: str
    signature_ok: bool
    body: dict[str, Any]


class WebhookReceiver:
    """Records each POST, checking X-Faxd-Signature; answers `statuses` in turn, then 204.
    A failing answer says `said` (empty unless set); `paths` are the paths posted to."""

    def __init__(self, secret: str = WEBHOOK_SECRET, tls: ssl.SSLContext | None = None) -> None:
        self.secret = secret
        self.hooks: list[Hook] = []
        self.statuses: list[int] = []
        self.said = b""
        self.paths: list[str] = []
        self.location: str | None = None  # sent with a 3xx answer
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                want = hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                got = self.headers.get("X-Faxd-Signature", "")
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                receiver.paths.append(self.path)
                if status < 300:
                    receiver.hooks.append(
                        Hook(
                            self.headers.get("X-Faxd-Event-Id", ""),
                            hmac.compare_digest(want, got),
                            json.loads(body),
                        )
                    )
                said = receiver.said if status >= 300 else b""
                self.send_response(status)
                if receiver.location is not None and 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(said)))
                self.end_headers()
                self.wfile.write(said)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class BigAnswer:
    """An HTTP receiver whose answer (`status`) has a body of `size` bytes, written until
    the client stops reading; `written` counts what got out before it hung up."""

    def __init__(self, status: int, size: int) -> None:
        self.written = 0
        self.done = threading.Event()
        answer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(status)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                chunk = b"no such hook here " * 3641  # 64 KB
                try:
                    while answer.written < size:
                        self.wfile.write(chunk[: size - answer.written])
                        answer.written += min(len(chunk), size - answer.written)
                except OSError:
                    pass  # the client closed the connection
                finally:
                    answer.done.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BigAnswer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def greeting_server(line: bytes, *, trickle: float = 0.0) -> Iterator[int]:
    """A server on loopback that greets every connection with `line` and hangs up (a
    554 "no service for you", a 421 "too busy"), a byte each `trickle` seconds if given;
    yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                if not trickle:
                    conn.sendall(line + b"\r\n")
                    continue
                with contextlib.suppress(OSError):  # the client hung up
                    _trickle(conn, line, trickle)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@contextmanager
def trickling_http(answer: bytes, every: float) -> Iterator[str]:
    """An HTTP receiver (or proxy: a CONNECT has no body) that reads each request, then
    answers `answer` a byte each `every` seconds (and hangs up); yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                request = b""
                try:
                    while b"\r\n\r\n" not in request:
                        request += conn.recv(65536)
                    head, _, body = request.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.lower().split(b"\r\n")
                            if line.startswith(b"content-length:")
                        ),
                        0,
                    )
                    while len(body) < length:
                        body += conn.recv(65536)
                    _trickle(conn, answer, every)
                except OSError:
                    pass  # the client hung up

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def _line(conn: socket.socket) -> bytes:
    got = b""
    while not got.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise ConnectionError("the client hung up")
        got += chunk
    return got


def _trickle(conn: socket.socket, data: bytes, every: float) -> None:
    """Send `data` a byte each `every` seconds."""
    for byte in data:
        conn.sendall(bytes([byte]))
        time.sleep(every)


@contextmanager
def slow_starttls(
    tls: tuple[Path, Path], *, greeting: bytes, handshake_after: float, every: float
) -> Iterator[int]:
    """An SMTP server that offers STARTTLS, slowly: it trickles `greeting` a byte each
    `every` seconds, waits `handshake_after` seconds before its TLS handshake, then
    trickles its answer to the EHLO that follows; yields its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # no client came
        conn.settimeout(30)
        try:
            _trickle(conn, greeting + b"\r\n", every)
            _line(conn)  # EHLO
            conn.sendall(b"250-slow.example\r\n250 STARTTLS\r\n")
            _line(conn)  # STARTTLS
            conn.sendall(b"220 go ahead\r\n")
            time.sleep(handshake_after)
            with context.wrap_socket(conn, server_side=True) as secure:
                _line(secure)  # EHLO again
                _trickle(secure, b"250 slow.example " + b"x" * 60 + b"\r\n", every)
        except OSError:
            pass  # the client hung up
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
        thread.join(30)
