"""The HTTP layer every provider shares: one `Session` per provider (urllib3's pools of kept
connections, with the credential and the CA the provider needs) and `call`, which sends
one request and turns every way it can fail into faxd's own errors (`http_failures` says
which: sent or not, retry or ask).

faxd talks to urllib3 directly, not through requests on top of it: it uses nothing
requests adds (cookies, redirects, hooks, the environment merged into every request),
and that layer cost about half a millisecond of CPU per request (1.4–1.9 ms per upload
through it, 0.9–1.3 ms directly, in a loop on loopback), a share of every document the
daemon sends or receives. The environment's proxy settings are still read the way
requests reads them (`requests.utils`), once per host.

Secrets: authentication goes through `BearerAuth`/`BasicAuth`, whose repr hides the
credential; a `Response` keeps the Authorization value it was sent with only to redact it
from the provider's words; error messages never quote request headers; errors are raised
outside `except` blocks, so no urllib3 exception is attached as `__cause__` or
`__context__`.
"""

from __future__ import annotations

import base64
import functools
import json as jsonlib
import re
import ssl
import threading
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests.utils
import urllib3.exceptions as u3
from urllib3 import PoolManager, ProxyManager, Timeout
from urllib3._collections import HTTPHeaderDict
from urllib3.response import BaseHTTPResponse
from urllib3.util import create_urllib3_context, make_headers

from faxd.errors import AuthError, OutcomeUnknownError, RejectedError, TransientError
from faxd.providers.http_failures import (
    MAX_RETRY_AFTER,
    MAYBE_HINT,
    RETRY_HINT,
    failure,
    invalid_url,
    parse_retry_after,
    provider_message,
    status_error,
)
from faxd.providers.http_response import Response
from faxd.providers.provider_type import DEFAULT_CONNECTIONS
from faxd.settings import Secret

__all__ = [
    "DEFAULT_CONNECTIONS",
    "MAX_RETRY_AFTER",
    "BasicAuth",
    "BearerAuth",
    "Response",
    "Session",
    "call",
    "iter_body",
    "make_session",
    "parse_retry_after",
    "provider_message",
    "read_json",
    "wrong_address",
]

# Hosts a provider talks to: its API, or Retarus' submit address and two data centers.
_HOSTS_KEPT = 8


class BearerAuth:
    """`Authorization: Bearer <key>`; the key stays a `Secret` until the header is set."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def header(self) -> str:
        return f"Bearer {self._token.reveal()}"

    def __repr__(self) -> str:
        return "BearerAuth('***')"


class BasicAuth:
    """HTTP Basic authentication whose repr never shows the password."""

    def __init__(self, username: str, password: Secret) -> None:
        self.username = username
        self._password = password

    def header(self) -> str:
        raw = f"{self.username}:{self._password.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, '***')"


Auth = BearerAuth | BasicAuth


class Session:
    """One provider's connections: kept open per host (and per proxy), `connections` at
    most per host, TLS verified against the system's CA store plus `ca_bundle`, never
    retried or redirected by urllib3 (retries are the engine's, which knows whether a
    request may be repeated). There is deliberately no way to turn verification off."""

    def __init__(
        self,
        ca_bundle: Path | None,
        user_agent: str,
        *,
        auth: Auth | None = None,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        self.ca_bundle = ca_bundle
        self.auth = auth
        # A pool keeps that many connections: one more would be closed after its answer
        # (a new TLS handshake next time, and a warning in the log).
        self.connections = connections
        self.headers: dict[str, str] = {
            "User-Agent": user_agent,
            "Accept-Encoding": "gzip, deflate",
            "Accept": "*/*",
        }
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self._managers: dict[str | None, PoolManager] = {}

    def __repr__(self) -> str:
        return f"Session({self.headers['User-Agent']!r})"

    def manager(self, proxy: str | None) -> PoolManager:
        """The pools for requests through `proxy` (None: straight to the host)."""
        managers = self._managers
        found = managers.get(proxy)
        if found is not None:
            return found
        with self._lock:
            found = managers.get(proxy)
            if found is None:
                found = self._new_manager(proxy)
                managers[proxy] = found
            return found

    def _new_manager(self, proxy: str | None) -> PoolManager:
        options: dict[str, Any] = {
            "num_pools": _HOSTS_KEPT,
            "maxsize": self.connections,
            "block": False,
            "ssl_context": self._tls_context(),
        }
        if proxy is None:
            return PoolManager(**options)
        scheme = urlsplit(proxy).scheme.lower()
        if scheme not in ("http", "https"):
            # Named by scheme only: the proxy's address may carry a password.
            raise TransientError(
                f"The environment names a {scheme or 'schemeless'} proxy for this provider;"
                " faxd can use only an http:// or https:// proxy.",
                "Set HTTPS_PROXY (and HTTP_PROXY) in faxd's environment to an http:// proxy"
                " (systemctl edit faxd), then restart faxd; faxd tries again later.",
            )
        return ProxyManager(proxy, proxy_headers=_proxy_headers(proxy), **options)

    def _tls_context(self) -> ssl.SSLContext:
        # Built once: urllib3 would read the CA files again for every new connection.
        if self._tls is None:
            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            context.load_default_certs()
            if not context.cert_store_stats()["x509_ca"]:
                # No system store that OpenSSL loads up front (a minimal container, or a
                # hashed directory only): the public CAs of the certifi bundle as well.
                context.load_verify_locations(cafile=certifi.where())
            if self.ca_bundle is not None:
                self._add_bundle(context, str(self.ca_bundle))
            self._tls = context
        return self._tls

    @staticmethod
    def _add_bundle(context: ssl.SSLContext, where: str) -> None:
        problem: str | None = None
        try:
            if Path(where).is_dir():
                context.load_verify_locations(capath=where)
            else:
                context.load_verify_locations(cafile=where)
        except (OSError, ssl.SSLError) as exc:
            problem = getattr(exc, "strerror", None) or type(exc).__name__
        if problem is not None:
            raise TransientError(
                f"The CA bundle {where} could not be loaded ({problem}).",
                "Check ca_bundle in the provider's configuration; faxd tries again later.",
            )

    def close(self) -> None:
        with self._lock:
            managers = list(self._managers.values())
            self._managers.clear()
        for manager in managers:
            # PoolManager.clear only forgets its pools; their idle connections stay open
            # until the pools are collected, so they are closed here.
            pools = [manager.pools[key] for key in manager.pools.keys()]  # noqa: SIM118
            manager.clear()
            for pool in pools:
                pool.close()


def make_session(
    ca_bundle: Path | None,
    user_agent: str,
    *,
    auth: Auth | None = None,
    connections: int = DEFAULT_CONNECTIONS,
) -> Session:
    """One session per provider; `ca_bundle` adds trust in a private CA (a TLS-inspecting
    proxy, a test server) to the system's."""
    return Session(ca_bundle, user_agent, auth=auth, connections=connections)


def _proxy_headers(proxy: str) -> dict[str, str]:
    username, password = requests.utils.get_auth_from_url(proxy)
    if not username:
        return {}
    return make_headers(proxy_basic_auth=f"{username}:{password}")


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY),
    None when there is none or NO_PROXY covers the host."""
    parts = urlsplit(url)
    return _host_proxy(parts.scheme, parts.netloc)


@functools.lru_cache(maxsize=64)
def _host_proxy(scheme: str, netloc: str) -> str | None:
    """Read once per host: the environment of a running daemon does not change."""
    address = f"{scheme}://{netloc}/"
    proxies = requests.utils.get_environ_proxies(address)
    return requests.utils.select_proxy(address, proxies) or None


def forget_proxies() -> None:
    """Read the environment's proxies again at the next request (for tests)."""
    _host_proxy.cache_clear()


def call(
    session: Session,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    idempotent: bool,
    what: str,
    accept: Collection[int] = (),
    data: Any = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    auth: Auth | None = None,
    stream: bool = False,
) -> Response:
    """Send one request; return the response for 2xx (and `accept`), raise faxd errors else.

    `what` names the operation for messages ("upload of invoice.pdf to +4681234567").
    `idempotent` says whether repeating the request is harmless: it decides whether a
    failure after the request left is a TransientError or an OutcomeUnknownError.
    `data`: bytes, or a file-like or iterable body with a length (sent with a
    Content-Length, read block by block); `json`: a value sent as JSON. `stream`: the body
    is left to read (`iter_body`), else it is read here."""
    problem = invalid_url(url, what)
    if problem is not None:
        raise problem
    fields = HTTPHeaderDict(session.headers)
    for name, value in (headers or {}).items():
        fields[name] = value
    credential = auth or session.auth
    authorization = credential.header() if credential is not None else None
    if authorization is not None:
        fields["Authorization"] = authorization
    body = data
    if json is not None:
        body = jsonlib.dumps(json, allow_nan=False).encode("utf-8")
        fields.setdefault("Content-Type", "application/json")
    if body is not None and hasattr(body, "__len__"):
        fields["Content-Length"] = str(len(body))
    manager = session.manager(_proxy_for(url))
    error: Exception | None = None
    response: Response | None = None
    reading = False
    try:
        raw = manager.urlopen(
            method,
            url,
            body=body,
            headers=fields,
            redirect=False,
            retries=False,
            timeout=Timeout(connect=timeout[0], read=timeout[1]),
            preload_content=False,
            decode_content=True,
        )
        reading = True
        response = Response(raw, authorization, None if stream else _read_all(raw))
    except (u3.HTTPError, OSError) as exc:
        error = failure(
            exc,
            url=url,
            timeout=timeout,
            idempotent=idempotent,
            what=what,
            reading_body=reading,
        )
    except UnicodeEncodeError:
        # Headers are encoded as the request is written, before a byte of it leaves.
        # The exception holds the header's text (maybe the credential): never shown.
        error = _unsendable_header(what, authorization)
    # Raised here, outside the except block, so the urllib3 exception is not chained.
    if error is not None:
        raise error
    assert response is not None
    if 200 <= response.status_code < 300 or response.status_code in accept:
        return response
    error = status_error(response, what, idempotent=idempotent)
    response.close()
    raise error


def _unsendable_header(what: str, authorization: str | None) -> Exception:
    if authorization is not None and not authorization.isascii():
        return AuthError(
            f"{what} was not sent: the provider's credential holds a character that is not "
            "plain ASCII, which an HTTP header cannot carry.",
            "Write the credential again with plain characters (api_key_file, password_file), "
            "then systemctl reload faxd; faxd holds this provider's queue until then.",
        )
    return RejectedError(
        f"{what} was not sent: one of its HTTP headers holds a character that is not plain ASCII.",
        "Check the provider's configuration for such a character.",
    )


def _read_all(raw: BaseHTTPResponse) -> bytes:
    try:
        return bytes(raw.read(decode_content=True))
    finally:
        raw.release_conn()


def wrong_address(status_code: int | None) -> bool:
    """Whether an answer to a request whose endpoint must exist (a provider's send) says
    the configured URL is not the API: 404, 405 or a redirect."""
    return status_code is not None and (300 <= status_code < 400 or status_code in (404, 405))


def read_json(response: Response, *, what: str, idempotent: bool) -> Any:
    """The JSON body of a successful answer.

    A garbled body after a request that changes something leaves its outcome unknown; after
    a lookup it is worth asking again."""
    try:
        return response.json()
    except (ValueError, u3.HTTPError, OSError):
        pass
    # Raised outside the except block: the decode error adds nothing but noise.
    message = f"{what}: the provider answered HTTP {response.status_code} without valid JSON."
    if idempotent:
        raise TransientError(message, RETRY_HINT, status_code=response.status_code)
    raise OutcomeUnknownError(message, MAYBE_HINT)


def iter_body(response: Response, *, what: str, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """Stream a (stream=True) response body, raising TransientError when it is cut short.

    Each piece is handed over as soon as it arrives (not once `chunk_size` bytes have
    come), so a consumer with a deadline sees a trickling body and can stop it: every
    socket read is bounded by the read timeout, the whole body is not.

    A body shorter than its Content-Length is an error, also where urllib3 would not check
    (it only can when the body is not content-encoded)."""
    if response.content_read:
        raise ValueError("iter_body reads a response asked for with stream=True only.")
    expected = _content_length(response)
    got = 0
    failed: Exception | None = None
    try:
        for chunk in _pieces(response, chunk_size):
            got += len(chunk)
            yield chunk
    except (u3.HTTPError, OSError):
        failed = TransientError(
            f"{what}: the download broke off after {got} bytes.",
            "faxd downloads it again later.",
        )
    finally:
        response.close()
    if failed is not None:
        raise failed
    if expected is not None and "Content-Encoding" not in response.headers and got != expected:
        raise TransientError(
            f"{what}: the download ended after {got} of {expected} bytes.",
            "faxd downloads it again later.",
        )


def _pieces(response: Response, chunk_size: int) -> Iterator[bytes]:
    while piece := response.raw.read1(chunk_size, decode_content=True):
        yield piece


_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also accepts "²" and other scripts' digits


def _content_length(response: Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value)
