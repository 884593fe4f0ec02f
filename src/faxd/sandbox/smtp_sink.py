"""A local SMTP server for the sandbox: it accepts every mail on 127.0.0.1 and stores
each as a `.eml` file (open it with any mail program), so the demo shows faxd's notices
without a mail server. Plain SMTP, no login: for loopback only (`security: none`)."""

from __future__ import annotations

import re
import socketserver
import threading
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

_SLUG = re.compile(r"[^A-Za-z0-9._+-]+")
MAX_MESSAGE = 50 * 1024 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._say("220 faxd sandbox SMTP sink")
        recipients: list[str] = []
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            command = raw.decode("utf-8", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250-faxd sandbox" if verb == "EHLO" else "250 faxd sandbox")
                if verb == "EHLO":
                    self._say(f"250 SIZE {MAX_MESSAGE}")
            elif verb == "MAIL":
                recipients = []
                self._say("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip(" <>"))
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                data = self._data()
                if data is None:
                    return
                path = self.server.store(data)
                self._say(f"250 OK stored as {path.name}")
            elif verb == "RSET":
                recipients = []
                self._say("250 OK")
            elif verb == "NOOP":
                self._say("250 OK")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")

    def _data(self) -> bytes | None:
        """Up to the line holding only a dot, read in blocks (line by line cost more than
        faxd's own work per mail). No PIPELINING is offered, so the client sends nothing
        after the dot before the answer: the dot ends what was read."""
        data = bytearray()
        while True:
            chunk = self.rfile.read1(65536)
            if not chunk:
                return None
            data += chunk
            if len(data) > MAX_MESSAGE + 8:  # keep the end to see the dot
                del data[MAX_MESSAGE:-8]
            for end in (b".\r\n", b".\n"):
                if data.endswith(end) and (len(data) == len(end) or data.endswith(b"\n" + end)):
                    body = bytes(data[: min(len(data) - len(end), MAX_MESSAGE)])
                    body = body[1:] if body.startswith(b"..") else body
                    return body.replace(b"\n..", b"\n.")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, folder: Path) -> None:
        super().__init__(("127.0.0.1", port), _Session)
        self.folder = folder
        self._lock = threading.Lock()
        self._count = 0

    def store(self, data: bytes) -> Path:
        # Only the header block names the file: parsing a whole mail with its attachment
        # cost more than faxd's own work per mail, and the client waits for it.
        end = _HEAD_END.search(data)
        head = data[: end.start()] if end else data
        subject = str(
            BytesHeaderParser(policy=policy.default).parsebytes(head).get("Subject", "mail")
        )
        slug = _SLUG.sub("-", subject).strip("-")[:60] or "mail"
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            while True:
                self._count += 1
                path = self.folder / f"{self._count:04d}-{slug}.eml"
                try:
                    with path.open("xb") as out:  # never replaces an earlier mail
                        out.write(data)
                    return path
                except FileExistsError:
                    continue


class SmtpSink:
    def __init__(self, port: int, folder: Path) -> None:
        self._server = _Server(port, folder)
        self.port = int(self._server.server_address[1])
        self.folder = folder
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SmtpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
