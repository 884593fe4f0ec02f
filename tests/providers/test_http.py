"""The shared HTTP layer against real loopback sockets: every way a request can fail ends in
the right faxd error, and no credential ever shows in one."""

from __future__ import annotations

import base64
import io
import json
import select
import shutil
import socket
import ssl
import subprocess
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from urllib3 import HTTPResponse

from faxd.errors import (
    AuthError,
    FaxdError,
    OutcomeUnknownError,
    RejectedError,
    TransientError,
)
from faxd.providers import http as faxd_http
from faxd.providers.http import (
    MAX_RETRY_AFTER,
    BasicAuth,
    BearerAuth,
    Response,
    call,
    iter_body,
    make_session,
    parse_retry_after,
    provider_message,
    read_json,
)
from faxd.settings import Secret

from .rawserver import (
    CANARY_KEY,
    RawServer,
    close_after_request,
    close_on_accept,
    hang_after_request,
    respond,
    truncated,
)

Start = Callable[..., RawServer]
FAST = (2.0, 0.5)  # a short read timeout keeps the "never answers" cases quick


@pytest.fixture
def session() -> Iterator[faxd_http.Session]:
    s = make_session(None, "faxd-test/1", auth=BearerAuth(Secret(CANARY_KEY)))
    yield s
    s.close()


def post(session: faxd_http.Session, url: str, *, idempotent: bool = False) -> Response:
    return call(
        session,
        "POST",
        url + "/Send",
        timeout=FAST,
        idempotent=idempotent,
        what="upload of invoice.pdf to +46812345678",
        data=b"x" * 1000,
    )


def assert_no_secret(error: BaseException, secret: str = CANARY_KEY) -> None:
    rendered = "".join(traceback.format_exception(error))
    assert secret not in rendered
    assert secret not in repr(error)
    assert secret not in str(error)
    if isinstance(error, FaxdError):
        assert secret not in (error.hint or "")
    # Nothing that holds the prepared request (and so the Authorization header) hangs on.
    assert error.__cause__ is None
    assert error.__context__ is None


# --- success and what is sent -------------------------------------------------------------


def test_success_returns_the_response_and_sends_bearer_and_user_agent(
    raw_server: Start, session: faxd_http.Session
) -> None:
    server = raw_server(respond("201 Created", {"Content-Type": "application/json"}, b"{}"))
    response = post(session, server.url)
    assert response.status_code == 201
    (request,) = server.received
    assert request.request_line == "POST /Send HTTP/1.1"
    assert request.header("Authorization") == f"Bearer {CANARY_KEY}"
    assert request.header("User-Agent") == "faxd-test/1"
    assert request.body == b"x" * 1000


def test_an_unreadable_ca_bundle_is_a_transient_error_naming_it(
    raw_server: Start, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    server = raw_server(respond("200 OK", body=b"ok"))
    s = make_session(bundle, "ua")
    with pytest.raises(TransientError, match="ca_bundle") as info:
        post(s, server.url)
    assert str(bundle) in str(info.value)
    assert server.received == []
    s.close()


def test_accepted_status_is_returned_instead_of_raised(
    raw_server: Start, session: faxd_http.Session
) -> None:
    server = raw_server(respond("404 Not Found", body=b'{"message":"gone"}'))
    response = call(
        session,
        "DELETE",
        server.url + "/Delete",
        timeout=FAST,
        idempotent=True,
        what="delete",
        accept={404},
    )
    assert response.status_code == 404


# --- failures before the request left: always transient ----------------------------------


@pytest.mark.parametrize("idempotent", [False, True])
def test_refused_connection_is_transient(session: faxd_http.Session, idempotent: bool) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError) as info:
        post(session, f"http://127.0.0.1:{port}", idempotent=idempotent)
    assert "refused" in str(info.value)
    assert "upload of invoice.pdf to +46812345678" in str(info.value)
    assert_no_secret(info.value)


def test_connect_timeout_is_transient(session: faxd_http.Session) -> None:
    # A listening socket with a full backlog: the kernel drops our SYN, connect() times out.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(3):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
                fillers.append(filler)
            with pytest.raises(TransientError) as info:
                call(
                    session,
                    "POST",
                    f"http://127.0.0.1:{port}/Send",
                    timeout=(0.3, 5.0),
                    idempotent=False,
                    what="upload",
                )
        finally:
            for filler in fillers:
                filler.close()
    assert "did not reach" in str(info.value)
    assert_no_secret(info.value)


def test_name_resolution_failure_is_transient(
    session: faxd_http.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(TransientError) as info:
        post(session, "http://api.docs.invalid")
    assert "could not be resolved" in str(info.value)
    assert "api.docs.invalid" in str(info.value)


# --- failures after the request left: unknown outcome unless repeatable -------------------


@pytest.mark.parametrize(
    "behaviour", [close_on_accept, close_after_request, hang_after_request, truncated]
)
def test_failure_after_sending_is_outcome_unknown_for_a_post(
    raw_server: Start, session: faxd_http.Session, behaviour: Callable[..., None]
) -> None:
    server = raw_server(behaviour)
    with pytest.raises(OutcomeUnknownError) as info:
        post(session, server.url)
    assert "may have accepted" in str(info.value)
    assert_no_secret(info.value)


@pytest.mark.parametrize(
    "behaviour", [close_on_accept, close_after_request, hang_after_request, truncated]
)
def test_failure_after_sending_is_transient_for_an_idempotent_call(
    raw_server: Start, session: faxd_http.Session, behaviour: Callable[..., None]
) -> None:
    server = raw_server(behaviour)
    with pytest.raises(TransientError):
        post(session, server.url, idempotent=True)


def test_a_dropped_post_is_sent_exactly_once(raw_server: Start, session: faxd_http.Session) -> None:
    server = raw_server(close_after_request)
    with pytest.raises(OutcomeUnknownError):
        post(session, server.url)
    assert len(server.received) == 1


def test_read_timeout_names_the_timeout(raw_server: Start, session: faxd_http.Session) -> None:
    server = raw_server(hang_after_request)
    with pytest.raises(OutcomeUnknownError, match=r"no answer within 0\.5 s"):
        post(session, server.url)


# --- HTTP error answers --------------------------------------------------------------------


def test_429_is_throttled_with_retry_after_seconds(
    raw_server: Start, session: faxd_http.Session
) -> None:
    server = raw_server(respond("429 Too Many Requests", {"Retry-After": "120"}))
    with pytest.raises(TransientError) as info:
        post(session, server.url)
    assert info.value.throttled
    assert info.value.retry_after == 120
    assert info.value.status_code == 429


def test_429_http_date_is_read_against_the_servers_clock(
    raw_server: Start, session: faxd_http.Session
) -> None:
    headers = {
        "Date": "Sun, 22 Nov 2026 10:00:00 GMT",
        "Retry-After": "Sun, 22 Nov 2026 10:01:30 GMT",
    }
    server = raw_server(respond("429 Too Many Requests", headers))
    with pytest.raises(TransientError) as info:
        post(session, server.url)
    assert info.value.retry_after == 90


@pytest.mark.parametrize(
    ("header", "expected"), [("99999999", MAX_RETRY_AFTER), ("soon", None), (None, None)]
)
def test_429_absurd_or_invalid_retry_after(
    raw_server: Start, session: faxd_http.Session, header: str | None, expected: float | None
) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    server = raw_server(respond("429 Too Many Requests", headers))
    with pytest.raises(TransientError) as info:
        post(session, server.url)
    assert info.value.retry_after == expected
    assert info.value.throttled


@pytest.mark.parametrize(
    "status",
    ["500 Internal Server Error", "502 Bad Gateway", "503 Service Unavailable", "520"],
)
def test_5xx_to_a_lookup_is_transient_not_throttled(
    raw_server: Start, session: faxd_http.Session, status: str
) -> None:
    server = raw_server(respond(status, {"Retry-After": "30"}, b"maintenance"))
    with pytest.raises(TransientError) as info:
        post(session, server.url, idempotent=True)
    assert not info.value.throttled
    assert info.value.retry_after == 30
    assert info.value.status_code == int(status[:3])
    assert len(server.received) == 1  # never repeated by the HTTP client itself


@pytest.mark.parametrize(
    "status",
    [
        "500 Internal Server Error",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
        "520",
    ],
)
def test_a_server_error_to_an_upload_may_mean_it_was_acted_on(
    raw_server: Start, session: faxd_http.Session, status: str
) -> None:
    server = raw_server(respond(status, {"Retry-After": "30"}, b"upstream timed out"))
    with pytest.raises(OutcomeUnknownError, match=status[:3]) as info:
        post(session, server.url)
    assert info.value.retry_after == 30  # the lookup, and so any new upload, waits for it
    assert info.value.status_code == int(status[:3])
    assert len(server.received) == 1


def test_408_is_transient(raw_server: Start, session: faxd_http.Session) -> None:
    server = raw_server(respond("408 Request Timeout"))
    with pytest.raises(TransientError):
        post(session, server.url)


def echo_authorization(status: str) -> Callable[[socket.socket, RawServer], None]:
    """Answer with an error body that quotes the request's Authorization header back."""

    def behaviour(conn: socket.socket, server: RawServer) -> None:
        request = server.read_request(conn)
        auth = request.header("Authorization") or ""
        body = json.dumps({"message": f"invalid credentials: {auth}"}).encode()
        conn.sendall(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    return behaviour


@pytest.mark.parametrize("status", ["401 Unauthorized", "403 Forbidden"])
def test_401_and_403_are_auth_errors_without_the_key(
    raw_server: Start, session: faxd_http.Session, status: str
) -> None:
    server = raw_server(echo_authorization(status))
    with pytest.raises(AuthError) as info:
        post(session, server.url)
    assert info.value.status_code == int(status[:3])
    assert "credential file" in str(info.value)
    assert "invalid credentials" in str(info.value)  # the provider's words are kept
    assert_no_secret(info.value)


def test_basic_auth_password_is_redacted_from_echoed_bodies(raw_server: Start) -> None:
    password = "canary-basic-pw-93e1"

    def echo(conn: socket.socket, server: RawServer) -> None:
        server.read_request(conn)
        body = f"user faxd with password {password} is locked".encode()
        conn.sendall(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )

    server = raw_server(echo)
    s = make_session(None, "ua", auth=BasicAuth("faxd", Secret(password)))
    with pytest.raises(RejectedError) as info:
        post(s, server.url)
    s.close()
    assert "is locked" in str(info.value)
    assert_no_secret(info.value, password)
    assert password not in repr(BasicAuth("faxd", Secret(password)))
    assert CANARY_KEY not in repr(BearerAuth(Secret(CANARY_KEY)))


@pytest.mark.parametrize("code", [400, 404, 405, 406, 409, 413, 415, 422])
def test_other_4xx_are_rejected_with_the_providers_message(
    raw_server: Start, session: faxd_http.Session, code: int
) -> None:
    body = json.dumps({"message": "recipientFaxNumber is not E.164"}).encode()
    server = raw_server(respond(f"{code} X", {"Content-Type": "application/json"}, body))
    with pytest.raises(RejectedError) as info:
        post(session, server.url)
    assert info.value.status_code == code
    assert "recipientFaxNumber is not E.164" in str(info.value)
    assert "upload of invoice.pdf" in str(info.value)


def test_redirect_is_rejected_and_not_followed(
    raw_server: Start, session: faxd_http.Session
) -> None:
    target = raw_server(respond("200 OK"))
    server = raw_server(respond("302 Found", {"Location": target.url + "/elsewhere"}))
    with pytest.raises(RejectedError, match="base_url"):
        post(session, server.url)
    assert target.received == []


def test_invalid_base_url_is_rejected(session: faxd_http.Session) -> None:
    with pytest.raises(RejectedError, match="base_url"):
        post(session, "ftp://api.example")


# --- the provider's words ------------------------------------------------------------------


def make_response(body: bytes, content_type: str = "application/json") -> Response:
    raw = HTTPResponse(
        body=io.BytesIO(body),
        headers={"Content-Type": f"{content_type}; charset=utf-8"},
        status=400,
        preload_content=False,
    )
    return Response(raw, authorization=None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"message": "Invalid date range"}', "Invalid date range"),
        (b'{"error": "missing file"}', "missing file"),
        (b'{"error": {"message": "nested"}}', "nested"),
        (
            b'{"title": "One or more validation errors occurred.",'
            b' "errors": {"faxId": ["The faxId field is required."]}}',
            "One or more validation errors occurred. - faxId: The faxId field is required.",
        ),
        (b"plain   text\n error", "plain text error"),
        (b"", ""),
    ],
)
def test_provider_message_reads_the_usual_fields(body: bytes, expected: str) -> None:
    assert provider_message(make_response(body)) == expected


def test_provider_message_strips_html_and_caps_length() -> None:
    html = b"<html><body><h1>Bad Request</h1><p>" + b"y" * 1000 + b"</p></body></html>"
    message = provider_message(make_response(html, "text/html"))
    assert message.startswith("Bad Request y")
    assert "<" not in message
    assert len(message) <= 300


def test_provider_message_redacts_anything_like_an_authorization_value() -> None:
    body = b'{"message": "header was Bearer abcdef123456 and basic Basic dXNlcjpwYXNz"}'
    message = provider_message(make_response(body), secrets=["s3cr3t-extra"])
    assert "abcdef123456" not in message
    assert "dXNlcjpwYXNz" not in message
    assert "Bearer ***" in message


# --- Retry-After ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Sun, 22 Nov 2026 10:02:00 GMT", 120.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", None),  # in the past: faxd's own backoff
        ("Sun, 06 Dec 2026 10:00:00 GMT", MAX_RETRY_AFTER),
        ("-5", None),
        ("1.5", 1.5),  # not RFC 9110, but its meaning is clear
        ("9" * 5000, None),  # absurd: fall back to our own backoff
        ("99999999", MAX_RETRY_AFTER),
        ("²", None),  # a digit to str.isdigit(), not to HTTP
        ("tomorrow", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@given(st.text(max_size=40))
def test_parse_retry_after_is_none_or_within_bounds(value: str) -> None:
    result = parse_retry_after(value, NOW)
    assert result is None or 0.0 <= result <= MAX_RETRY_AFTER


# --- bodies --------------------------------------------------------------------------------


def test_read_json_garbage_after_a_post_is_outcome_unknown(
    raw_server: Start, session: faxd_http.Session
) -> None:
    server = raw_server(respond("200 OK", {"Content-Type": "application/json"}, b"<html>"))
    response = post(session, server.url)
    with pytest.raises(OutcomeUnknownError):
        read_json(response, what="upload", idempotent=False)
    with pytest.raises(TransientError):
        read_json(response, what="lookup", idempotent=True)


def test_iter_body_streams_a_complete_body(raw_server: Start, session: faxd_http.Session) -> None:
    payload = bytes(range(256)) * 1000
    server = raw_server(respond("200 OK", {"Content-Type": "application/pdf"}, payload))
    response = call(
        session,
        "GET",
        server.url + "/File/1",
        timeout=FAST,
        idempotent=True,
        what="download",
        stream=True,
    )
    assert b"".join(iter_body(response, what="download", chunk_size=1000)) == payload


def test_iter_body_refuses_a_body_already_read_rather_than_report_it_cut_short(
    raw_server: Start, session: faxd_http.Session
) -> None:
    server = raw_server(respond("200 OK", {"Content-Type": "application/pdf"}, b"%PDF" * 100))
    response = call(session, "GET", server.url, timeout=FAST, idempotent=True, what="download")
    with pytest.raises(ValueError, match="stream=True"):
        next(iter_body(response, what="download"))


def test_iter_body_raises_transient_on_a_truncated_body(
    raw_server: Start, session: faxd_http.Session
) -> None:
    server = raw_server(truncated)
    response = call(
        session,
        "GET",
        server.url + "/File/1",
        timeout=FAST,
        idempotent=True,
        what="download",
        stream=True,
    )
    got = b""
    with pytest.raises(TransientError, match="download"):
        for chunk in iter_body(response, what="download"):
            got += chunk
    assert len(got) < 100


# --- TLS -----------------------------------------------------------------------------------


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN=127.0.0.1/O={name}", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path, "test")


def tls_server(raw_server: Start, cert: Path, key: Path) -> RawServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return raw_server(respond("200 OK", body=b"ok"), tls=context)


def test_ca_bundle_adds_a_ca_to_the_systems_store(
    raw_server: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system_cert, system_key = make_certificate(tmp_path, "system")
    private_cert, private_key = make_certificate(tmp_path, "private")
    # OpenSSL reads the system store from SSL_CERT_FILE when it is set.
    monkeypatch.setenv("SSL_CERT_FILE", str(system_cert))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    public = tls_server(raw_server, system_cert, system_key)
    private = tls_server(raw_server, private_cert, private_key)

    plain = make_session(None, "ua")
    assert post(plain, public.url).content == b"ok"
    with pytest.raises(TransientError, match="ca_bundle"):
        post(plain, private.url)
    plain.close()

    with_bundle = make_session(private_cert, "ua")
    assert post(with_bundle, private.url).content == b"ok"
    assert post(with_bundle, public.url).content == b"ok"  # the system's CAs still count
    with_bundle.close()


def test_self_signed_server_is_refused_without_its_ca_and_accepted_with_it(
    raw_server: Start, self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = raw_server(respond("200 OK", body=b"ok"), tls=context)

    untrusting = make_session(None, "ua", auth=BearerAuth(Secret(CANARY_KEY)))
    with pytest.raises(TransientError) as info:
        post(untrusting, server.url)
    untrusting.close()
    assert "ca_bundle" in str(info.value)
    assert server.received == []  # refused in the handshake: nothing was sent
    assert_no_secret(info.value)

    # An environment CA bundle must not replace the configured one.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    trusting = make_session(cert, "ua")
    assert post(trusting, server.url).content == b"ok"
    trusting.close()


def answers_in_plain_http(conn: socket.socket, server: RawServer) -> None:
    conn.recv(65536)  # the TLS ClientHello, read as a garbled request
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.mark.parametrize("behaviour", [answers_in_plain_http, close_on_accept])
def test_a_failed_tls_handshake_means_the_upload_never_left(
    raw_server: Start, session: faxd_http.Session, behaviour: Callable[..., None]
) -> None:
    # https:// in base_url against a plain-HTTP port: no request byte went out, so the
    # upload is simply tried again, never "outcome unknown".
    server = raw_server(behaviour)
    with pytest.raises(TransientError) as info:
        post(session, server.url.replace("http://", "https://"))
    assert not isinstance(info.value, OutcomeUnknownError)
    assert "TLS handshake failed" in str(info.value)
    assert "scheme" in (info.value.hint or "") and "port" in (info.value.hint or "")
    assert_no_secret(info.value)


def test_a_tls_connection_dropped_after_the_request_is_still_outcome_unknown(
    raw_server: Start, self_signed: tuple[Path, Path]
) -> None:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = raw_server(close_after_request, tls=context)
    trusting = make_session(cert, "ua")
    with pytest.raises(OutcomeUnknownError):
        post(trusting, server.url)
    trusting.close()
    assert len(server.received) == 1


# --- the environment's proxy ---------------------------------------------------------------


def test_the_environments_proxy_is_used_and_no_proxy_bypasses_it(
    raw_server: Start, session: faxd_http.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = raw_server(respond("201 Created", {"Content-Type": "application/json"}, b"{}"))
    direct = raw_server(respond("201 Created", {"Content-Type": "application/json"}, b"{}"))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    faxd_http.forget_proxies()  # read once per host: read it with this environment
    # A host the proxy serves: the request line names the whole URL, as a proxy needs it.
    far = "http://fax.example.invalid:8080"
    assert post(session, far).status_code == 201
    (through,) = proxy.received
    assert through.request_line == f"POST {far}/Send HTTP/1.1"
    # NO_PROXY: straight to the server.
    assert post(session, direct.url).status_code == 201
    (straight,) = direct.received
    assert straight.request_line == "POST /Send HTTP/1.1"
    assert len(proxy.received) == 1
    faxd_http.forget_proxies()


def test_a_proxy_faxd_cannot_use_is_a_transient_error_without_its_address(
    session: faxd_http.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "socks5://user:proxy-pw-4411@127.0.0.1:1080")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    faxd_http.forget_proxies()
    try:
        with pytest.raises(TransientError, match="socks5 proxy") as info:
            post(session, "http://fax.example.invalid:8080")
    finally:
        faxd_http.forget_proxies()
    assert "proxy-pw-4411" not in str(info.value)
    assert_no_secret(info.value)


def tunnel(conn: socket.socket, server: RawServer) -> None:
    """An HTTP proxy's CONNECT: open the named host:port and relay bytes both ways."""
    request = server.read_request(conn)
    host, _, port = request.request_line.split()[1].rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as upstream:
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        ends = [conn, upstream]
        while True:
            readable, _, _ = select.select(ends, [], [], 5)
            if not readable:
                return
            for end in readable:
                data = end.recv(65536)
                if not data:
                    return
                (upstream if end is conn else conn).sendall(data)


def test_https_goes_through_the_environments_proxy_in_a_tunnel(
    raw_server: Start, self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed
    target = tls_server(raw_server, cert, key)
    proxy = raw_server(tunnel)
    monkeypatch.setenv("HTTPS_PROXY", f"http://office:proxy-pw-2207@127.0.0.1:{proxy.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    faxd_http.forget_proxies()
    session = make_session(cert, "ua", auth=BearerAuth(Secret(CANARY_KEY)))
    try:
        assert post(session, target.url).content == b"ok"
    finally:
        session.close()
        faxd_http.forget_proxies()
    (connect,) = proxy.received
    assert connect.request_line.startswith(f"CONNECT 127.0.0.1:{target.port} HTTP/")
    expected = base64.b64encode(b"office:proxy-pw-2207").decode()
    assert connect.header("Proxy-Authorization") == f"Basic {expected}"
    # The request itself went inside the tunnel, encrypted: the proxy never saw the key.
    assert CANARY_KEY not in connect.head.decode("latin-1")
    (request,) = target.received
    assert request.request_line == "POST /Send HTTP/1.1"
    assert request.header("Authorization") == f"Bearer {CANARY_KEY}"


def test_a_credential_no_header_can_carry_is_a_clear_error_without_the_key(
    raw_server: Start,
) -> None:
    key = "canary-\u20ac-key-7f3e9b1c"  # pasted with a character HTTP headers cannot hold
    server = raw_server(respond("201 Created", {"Content-Type": "application/json"}, b"{}"))
    s = make_session(None, "faxd-test/1", auth=BearerAuth(Secret(key)))
    with pytest.raises(AuthError) as info:
        post(s, server.url)
    s.close()
    assert "not plain ASCII" in str(info.value)
    assert_no_secret(info.value, key)
    assert server.received == []
