"""`faxd sandbox`: both provider APIs on one loopback port, in a background thread.

    /Docs/api/v2/…  and  /Docs/v2/…        Generic DOCS v2 (path casing ignored)
    /retarus/ha/rest/v1/…                  Retarus HA URL (submit jobs here)
    /retarus/dc1/rest/v1/…, /retarus/dc2/… Retarus data centers (reports live here)
    /_sandbox/stats, /_sandbox/faults, /_sandbox/received   control and counters

Every request is read in full first, then counted, authenticated, matched against the
fault rules, and answered."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from faxd.clock import Clock, SystemClock
from faxd.sandbox import docs_api, retarus_api
from faxd.sandbox.faults import FaultRule, parse_fault
from faxd.sandbox.received import generated_records, record_from_entry
from faxd.sandbox.scenario import Scenario, check_received, load_scenario, parse_scenario
from faxd.sandbox.smtp_sink import SmtpSink
from faxd.sandbox.store import SandboxState
from faxd.sandbox.wire import JsonBodyError, Request, Response, json_body, json_response

# 5 files of 16 MB, base64-encoded for Retarus, plus room for the envelope
MAX_BODY = 128 * 1024 * 1024
_DOCS_PREFIXES = ("/docs/api/v2", "/docs/v2")
_ErrorFn = Callable[[int, str, list[tuple[str, str]] | None], Response]


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _HTTPServer(ThreadingHTTPServer):
    # not daemons: server_close() joins only non-daemon threads, and stop() must join all
    daemon_threads = False

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request (a daemon killed, a reset) is not the
        # emulator's error: the standard library would print a traceback for it.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without this, delayed ACKs add ~40 ms
    disable_nagle_algorithm = True
    server: _HTTPServer
    timeout = 120  # idle keep-alive connections are closed after this
    _started = False  # whether this request's answer (or drop) has begun

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
        # stop() may have swept the open connections just before this one registered
        if self.server.sandbox.stopping.is_set():
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.sandbox.quiet:
            sys.stderr.write(f"sandbox: {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    # --- plumbing -------------------------------------------------------------------

    @property
    def sandbox(self) -> SandboxServer:
        return self.server.sandbox

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            pieces: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BodyError(400, "The chunked request body is malformed.") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(pieces)
                total += size
                if total > MAX_BODY:
                    raise _BodyError(413, f"The request body is larger than {MAX_BODY} bytes.")
                pieces.append(self.rfile.read(size))
                self.rfile.readline(1024)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise _BodyError(400, "Content-Length is not a number.") from None
        if length < 0 or length > MAX_BODY:
            raise _BodyError(413, f"The request body is larger than {MAX_BODY} bytes.")
        body = self.rfile.read(length)
        if len(body) != length:
            raise _BodyError(400, "The request body ended early.")
        return body

    def _drop(self) -> None:
        """Close the connection without a word: what a crash or network cut looks like."""
        self._started = True
        self.close_connection = True
        with self.sandbox.state.lock:
            self.sandbox.state.dropped += 1
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _write(self, response: Response, slow: FaultRule | None = None) -> None:
        self._started = True
        try:
            self.send_response(response.status)
            if response.content_type:
                self.send_header("Content-Type", response.content_type)
            length = response.blob.size if response.blob is not None else len(response.body)
            if response.status != 204:
                self.send_header("Content-Length", str(length))
            for name, value in response.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD" or response.status == 204:
                return
            chunk = slow.chunk if slow else 65536
            pieces = (
                response.blob.chunks(chunk)
                if response.blob is not None
                else (response.body[i : i + chunk] for i in range(0, len(response.body), chunk))
            )
            for index, piece in enumerate(pieces):
                if slow is not None and index and self.sandbox.stopping.wait(slow.delay):
                    self._drop()
                    return
                self.wfile.write(piece)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _fault_first(self, fault: FaultRule | None, error: _ErrorFn) -> bool:
        """Apply what a rule does before processing; False when the request is over."""
        if fault is None:
            return True
        if fault.action == "status":
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
            message = f"Injected fault: status {fault.status}."
            self._write(error(fault.status, message, headers))
            return False
        if fault.action == "drop_before":
            self._drop()
            return False
        if fault.action == "slow" and self.sandbox.stopping.wait(fault.delay):
            self._drop()
            return False
        return True

    def _answer(
        self, response: Response, fault: FaultRule | None, error: _ErrorFn | None = None
    ) -> None:
        if fault is not None and fault.action == "drop_after":
            self._drop()
            return
        if fault is not None and fault.action == "status_after" and error is not None:
            # Processed, then an error: a gateway that gave up waiting for the service.
            message = f"Injected fault: status {fault.status} after processing."
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
            self._write(error(fault.status, message, headers))
            return
        slow = fault if fault is not None and fault.action == "slow_body" else None
        self._write(response, slow)

    # --- dispatch -------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._started = False
        try:
            self._route()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away: nobody to answer
        except Exception:
            # a bug in the emulator: answer like a real server would, and show it
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            if not self._started:
                message = "Internal error in the sandbox emulator; see its standard error."
                self._write(json_response(500, {"status": 500, "code": 500, "message": message}))

    def _route(self) -> None:
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True
            self._write(json_response(exc.status, {"status": exc.status, "message": str(exc)}))
            return
        request = Request(method=self.command, path="", headers=self.headers, body=body)
        lower = path.lower()
        for prefix in _DOCS_PREFIXES:
            if lower == prefix or lower.startswith(prefix + "/"):
                request.path = path[len(prefix) :]
                self._docs(request)
                return
        parts = path.split("/")
        if (
            len(parts) >= 5
            and parts[1] == "retarus"
            and parts[2] in retarus_api.SITES
            and parts[3:5] == ["rest", "v1"]
        ):
            request.path = "/".join(parts[5:])
            self._retarus(parts[2], request)
            return
        if path.startswith("/_sandbox/"):
            self._control(path[len("/_sandbox/") :].strip("/"), request)
            return
        self._write(json_response(404, {"status": 404, "message": f"Nothing at {path}."}))

    def _docs(self, request: Request) -> None:
        state = self.sandbox.state
        endpoint, problem = docs_api.route(request.method, request.path)
        if endpoint is None:
            assert problem is not None
            self._write(problem)
            return
        with state.lock:
            state.docs.requests[endpoint] += 1
            if endpoint == "send":
                state.docs.send_requests += 1
        if not docs_api.authorized(request, state.scenario.docs_api_key):
            self._write(docs_api.unauthorized())
            return
        fault = state.faults.take(
            "docs", endpoint, lambda: docs_api.recipients(state, endpoint, request)
        )
        if self._fault_first(fault, docs_api.error):
            self._answer(docs_api.handle(state, endpoint, request), fault, docs_api.error)

    def _retarus(self, site: str, request: Request) -> None:
        state = self.sandbox.state
        scenario = state.scenario
        endpoint, cust_nr, job_id, problem = retarus_api.route(request.method, request.path)
        if endpoint is None:
            assert problem is not None
            self._write(problem)
            return
        with state.lock:
            state.retarus.requests[endpoint] += 1
            if endpoint == "submit":
                state.retarus.send_requests += 1
            elif site == "ha":
                state.ha_report_queries += 1
        if not retarus_api.authorized(
            request, scenario.retarus_username, scenario.retarus_password
        ):
            self._write(retarus_api.unauthorized())
            return
        if cust_nr != scenario.retarus_customer_number:
            self._write(
                retarus_api.error(403, f"Customer number {cust_nr} does not belong to this login.")
            )
            return
        fault = state.faults.take(
            "retarus", endpoint, lambda: retarus_api.recipients(state, endpoint, job_id, request)
        )
        if self._fault_first(fault, retarus_api.error):
            self._answer(
                retarus_api.handle(state, site, endpoint, job_id, request), fault, retarus_api.error
            )

    def _control(self, what: str, request: Request) -> None:
        sandbox = self.sandbox
        method = request.method
        try:
            if what == "stats" and method == "GET":
                self._write(json_response(200, sandbox.state.stats()))
            elif what == "faults" and method == "POST":
                rules = json_body(request)
                for rule in rules if isinstance(rules, list) else [rules]:
                    sandbox.add_fault(rule)
                self._write(json_response(201, sandbox.state.faults.snapshot()))
            elif what == "faults" and method == "DELETE":
                sandbox.clear_faults()
                self._write(Response(status=204, content_type=None))
            elif what == "received" and method == "POST":
                docs = json_body(request)
                ids = [
                    sandbox.add_received(d) for d in (docs if isinstance(docs, list) else [docs])
                ]
                self._write(json_response(201, {"faxIds": ids}))
            else:
                self._write(json_response(404, {"status": 404, "message": f"No control {what!r}."}))
        except (ValueError, JsonBodyError) as exc:
            self._write(json_response(400, {"status": 400, "message": str(exc)}))


class SandboxServer:
    """The emulator. `start()` serves in a background thread; `stop()` ends and joins it.

    `clock` (default: the system clock) decides when statuses become final, so tests can
    move time instead of sleeping; fault delays always use real time."""

    def __init__(
        self,
        scenario: Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        quiet: bool = True,
    ) -> None:
        self.scenario: Scenario = parse_scenario(scenario)
        self.clock: Clock = clock or SystemClock()
        self.state = SandboxState(self.scenario, self.clock)
        self.host = host
        self.port = port
        self.quiet = quiet
        self.stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        now = self.clock.time()
        for entry in self.scenario.received:
            self.state.add_docs_record(record_from_entry(entry, self.scenario, now))
        if self.scenario.generate_received is not None:
            for record in generated_records(self.scenario.generate_received, self.scenario, now):
                self.state.add_docs_record(record)

    # --- addresses ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def docs_base_url(self) -> str:
        return f"{self.url}/Docs/api/v2"

    @property
    def retarus_submit_url(self) -> str:
        return f"{self.url}/retarus/ha/rest/v1"

    @property
    def retarus_datacenter_urls(self) -> tuple[str, str]:
        return (f"{self.url}/retarus/dc1/rest/v1", f"{self.url}/retarus/dc2/rest/v1")

    # --- life -----------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self.stopping.clear()
        httpd = _HTTPServer((self.host, self.port), self)
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(
            # stop() waits up to one poll interval; tests start and stop many servers
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="faxd-sandbox",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self.stopping.set()
        httpd.shutdown()
        thread.join()
        # idle keep-alive connections would keep their handler threads waiting
        with httpd.connections_lock:
            for conn in list(httpd.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # joins the handler threads
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- control --------------------------------------------------------------------

    def add_fault(self, rule: Mapping[str, Any]) -> None:
        """Add a fault rule (see faults.py); ValueError names the bad key."""
        self.state.faults.add(parse_fault(rule, "fault"))

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def add_received(self, doc: Mapping[str, Any]) -> str:
        """Add a received document (scenario `received:` entry form); returns its faxId."""
        checked = check_received(doc, self.scenario.tz, "received document", "document")
        record = record_from_entry(checked, self.scenario, self.clock.time())
        self.state.add_docs_record(record)
        return record.fax_id

    def stats(self) -> dict[str, Any]:
        return self.state.stats()


def _banner(srv: SandboxServer, scenario_path: Path | None) -> list[str]:
    sc = srv.scenario
    defaults = Scenario()
    key = sc.docs_api_key if sc.docs_api_key == defaults.docs_api_key else "(from the scenario)"
    password = (
        sc.retarus_password
        if sc.retarus_password == defaults.retarus_password
        else "(from the scenario)"
    )
    dc1, dc2 = srv.retarus_datacenter_urls
    return [
        f"faxd sandbox on {srv.url} (scenario: {scenario_path or 'built-in defaults'})",
        f"Generic DOCS base_url:    {srv.docs_base_url}   api key: {key}",
        f"Retarus submit_url:       {srv.retarus_submit_url}",
        f"Retarus datacenter_urls:  {dc1} {dc2}",
        f"Retarus login:            customer {sc.retarus_customer_number}, "
        f"user {sc.retarus_username}, password {password}",
        f"Counters:                 {srv.url}/_sandbox/stats",
        "Press Ctrl-C to stop.",
    ]


def serve_forever(
    port: int,
    scenario_path: Path | None,
    smtp_port: int = 0,
    mail_dir: Path = Path("sandbox-mail"),
) -> None:
    """What `faxd sandbox` runs: serve until SIGINT or SIGTERM; with `smtp_port`, also an
    SMTP sink storing each mail as a .eml file in `mail_dir`.

    Raises ValueError for a bad scenario file and OSError when the port is taken."""
    scenario = load_scenario(scenario_path) if scenario_path is not None else None
    srv = SandboxServer(scenario, port=port, quiet=False)
    sink: SmtpSink | None = None
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = []
    if in_main:
        previous = [(sig, signal.signal(sig, _stop)) for sig in (signal.SIGINT, signal.SIGTERM)]
    srv.start()
    try:
        if smtp_port:
            try:
                sink = SmtpSink(smtp_port, mail_dir.absolute()).start()
            except OSError as exc:
                print(
                    f"SMTP sink: cannot listen on port {smtp_port} ({exc.strerror}); running "
                    "without it (choose another with --smtp-port, 0 turns it off).",
                    flush=True,
                )
        for line in _banner(srv, scenario_path):
            if sink is not None and line.startswith("Press Ctrl-C"):
                print(
                    f"SMTP sink:                127.0.0.1:{sink.port} (security: none); each mail "
                    f"is stored as a .eml file in {sink.folder}",
                    flush=True,
                )
            print(line, flush=True)
        while not done.wait(0.5):
            pass
    finally:
        srv.stop()
        if sink is not None:
            sink.stop()
        for sig, handler in previous:
            signal.signal(sig, handler)
        print("faxd sandbox stopped.", flush=True)
