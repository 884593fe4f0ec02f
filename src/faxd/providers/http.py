"""The HTTP layer every provider shares: one `requests.Session` per provider, and `call`,
which sends one request and turns every way it can fail into faxd's own errors.

The distinction that matters most is *when* a request failed:

- before it left (refused, DNS, connect timeout, TLS verification): nothing reached the
  provider, so it is always safe to send again -> `TransientError`;
- after it left (read timeout, connection reset or closed without an answer, a cut-off
  answer): the provider may have acted on it -> `OutcomeUnknownError` for a request that
  changes something (`idempotent=False`), `TransientError` for a lookup that can simply
  be repeated.

HTTP answers map as: 2xx returned; 429 -> `TransientError(throttled=True, retry_after=…)`;
408/425/5xx -> `TransientError`; 401/403 -> `AuthError`; 3xx and every other 4xx ->
`RejectedError` with the provider's own message. Statuses listed in `accept` are returned
instead (Generic DOCS: 404 on Delete; Retarus: 409 duplicate job).

Secrets: authentication goes through `BearerAuth`/`BasicAuth`, whose repr hides the
credential; error messages never quote request headers and redact anything that looks
like the Authorization value from provider bodies; errors are raised outside the `except`
block so no requests exception (which holds the prepared request and its headers) is
attached as `__cause__` or `__context__`.
"""

from __future__ import annotations

import base64
import binascii
import errno
import functools
import json
import re
import ssl
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions as u3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.structures import CaseInsensitiveDict
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from faxd.core import retry
from faxd.errors import AuthError, OutcomeUnknownError, RejectedError, TransientError
from faxd.providers.provider_type import DEFAULT_CONNECTIONS
from faxd.settings import Secret

__all__ = [
    "DEFAULT_CONNECTIONS",
    "MAX_RETRY_AFTER",
    "BasicAuth",
    "BearerAuth",
    "call",
    "iter_body",
    "make_session",
    "parse_retry_after",
    "provider_message",
    "read_json",
    "wrong_address",
]

# An absurd Retry-After (a day, a year) must not park a document for ever.
MAX_RETRY_AFTER = 6 * 3600.0
# How much of an error body is read and quoted.
_BODY_HEAD = 8192
_EXCERPT_CHARS = 300

_RETRY_HINT = "faxd tries again later."
_MAYBE_HINT = "The provider may have accepted it: faxd asks the provider before sending it again."
_TRANSIENT_STATUSES = frozenset({408, 425})  # the server gave up before acting: resend


class BearerAuth(AuthBase):
    """`Authorization: Bearer <key>`; the key stays a `Secret` until the header is set."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth('***')"


class BasicAuth(AuthBase):
    """HTTP Basic authentication whose repr never shows the password."""

    def __init__(self, username: str, password: Secret) -> None:
        self.username = username
        self._password = password

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        raw = f"{self.username}:{self._password.reveal()}".encode()
        r.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        return r

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, '***')"


def make_session(
    ca_bundle: Path | None,
    user_agent: str,
    *,
    auth: AuthBase | None = None,
    connections: int = DEFAULT_CONNECTIONS,
) -> requests.Session:
    """One session per provider: TLS verification always on, no urllib3-level retries.

    `ca_bundle` adds trust in a private CA (a TLS-inspecting proxy, a test server); there is
    deliberately no way to turn verification off. Retries are left to faxd's engine, which
    knows whether a request may be repeated. `connections`: how many requests may be
    under way at once; the pool keeps that many open, since one more would be closed
    after its answer (a new TLS handshake next time, and a warning in the log)."""
    session = requests.Session()
    # The environment (HTTPS_PROXY, NO_PROXY) is read once per host by `call`, not by
    # requests on every request: that walk of os.environ was a tenth of the CPU of saving a
    # received document. It also keeps ~/.netrc and REQUESTS_CA_BUNDLE out of faxd's way.
    session.trust_env = False
    session.verify = str(ca_bundle) if ca_bundle is not None else True
    session.headers["User-Agent"] = user_agent
    if auth is not None:
        session.auth = auth
    # read=False makes urllib3 raise read errors as they are (ReadTimeout stays ReadTimeout)
    # instead of wrapping them in MaxRetryError; total=0 means no automatic retry at all.
    adapter = HTTPAdapter(
        max_retries=Retry(total=0, read=False, redirect=False),
        pool_connections=2,
        pool_maxsize=connections,
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@functools.lru_cache(maxsize=64)
def _host_proxies(scheme: str, netloc: str) -> dict[str, str]:
    """The proxies the environment names for one host (empty when NO_PROXY covers it);
    the environment of a running daemon does not change."""
    return dict(requests.utils.get_environ_proxies(f"{scheme}://{netloc}/"))


def _environment_proxies(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return _host_proxies(parts.scheme, parts.netloc)


def call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    idempotent: bool,
    what: str,
    accept: Collection[int] = (),
    **kwargs: Any,
) -> requests.Response:
    """Send one request; return the response for 2xx (and `accept`), raise faxd errors else.

    `what` names the operation for messages ("upload of invoice.pdf to +4681234567").
    `idempotent` says whether repeating the request is harmless: it decides whether a
    failure after the request left is a TransientError or an OutcomeUnknownError.
    Remaining keyword arguments go to `_send` (json=, data=, headers=, auth=, stream=…)."""
    verify = kwargs.pop("verify", session.verify)
    if verify is False:
        raise ValueError("TLS verification cannot be turned off in faxd.")
    error: Exception | None = None
    response: requests.Response | None = None
    try:
        # verify and proxies go to the adapter as given: nothing from the environment
        # (REQUESTS_CA_BUNDLE) can replace the configured ca_bundle.
        kwargs.setdefault("proxies", _environment_proxies(url))
        response = _send(session, method, url, timeout=timeout, verify=verify, **kwargs)
    except requests.RequestException as exc:
        error = _translate_exception(
            exc, url=url, timeout=timeout, idempotent=idempotent, what=what
        )
    # Raised here, outside the except block, so the requests exception (which holds the
    # prepared request with its Authorization header) is not chained as __context__.
    if error is not None:
        raise error
    assert response is not None
    if 200 <= response.status_code < 300 or response.status_code in accept:
        return response
    error = _status_error(response, what)
    response.close()
    raise error


def _send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    verify: bool | str,
    proxies: dict[str, str],
    headers: dict[str, str] | None = None,
    auth: AuthBase | None = None,
    stream: bool = False,
    **body: Any,
) -> requests.Response:
    """`session.request` for what faxd asks of it, straight to the session's adapter.

    Session.request merges the session's cookies, hooks, parameters and environment into
    every request and builds a redirect resolver; faxd uses none of them (cookies are not
    kept: the providers authenticate every request; a redirect is never followed, the
    adapter only sends), and skipping them is a fifth of the CPU of a request. Errors
    are requests' own, as before."""
    merged = CaseInsensitiveDict(session.headers)
    merged.update(headers or {})
    request = requests.PreparedRequest()
    request.prepare(method=method, url=url, headers=merged, auth=auth or session.auth, **body)
    adapter = session.get_adapter(request.url or url)
    response = adapter.send(
        request, stream=stream, timeout=timeout, verify=verify, cert=None, proxies=proxies
    )
    if not stream:
        # Read now, as Session.send does: the connection goes back to the pool, and a body
        # cut off here is a requests error inside `call`'s classification.
        _ = response.content
    return response


def wrong_address(status_code: int | None) -> bool:
    """Whether an answer to a request whose endpoint must exist (a provider's send) says
    the configured URL is not the API: 404, 405 or a redirect."""
    return status_code is not None and (300 <= status_code < 400 or status_code in (404, 405))


def read_json(response: requests.Response, *, what: str, idempotent: bool) -> Any:
    """The JSON body of a successful answer.

    A garbled body after a request that changes something leaves its outcome unknown; after
    a lookup it is worth asking again."""
    try:
        return response.json()
    except (ValueError, requests.RequestException):
        pass
    # Raised outside the except block: the decode error adds nothing but noise.
    message = f"{what}: the provider answered HTTP {response.status_code} without valid JSON."
    if idempotent:
        raise TransientError(message, _RETRY_HINT, status_code=response.status_code)
    raise OutcomeUnknownError(message, _MAYBE_HINT)


def iter_body(
    response: requests.Response, *, what: str, chunk_size: int = 64 * 1024
) -> Iterator[bytes]:
    """Stream a (stream=True) response body, raising TransientError when it is cut short.

    Each piece is handed over as soon as it arrives (not once `chunk_size` bytes have
    come), so a consumer with a deadline sees a trickling body and can stop it: every
    socket read is bounded by the read timeout, the whole body is not.

    A body shorter than its Content-Length is an error, also where urllib3 would not check
    (it only can when the body is not content-encoded)."""
    expected = _content_length(response)
    got = 0
    failed: Exception | None = None
    try:
        for chunk in _pieces(response, chunk_size):
            got += len(chunk)
            yield chunk
    except (requests.RequestException, u3.HTTPError, OSError):
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


def _pieces(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    raw = response.raw
    if not isinstance(raw, BaseHTTPResponse):
        yield from response.iter_content(chunk_size=chunk_size)
        return
    while piece := raw.read1(chunk_size, decode_content=True):
        yield piece


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header, capped at MAX_RETRY_AFTER; None when
    missing, unreadable or already past, so the caller falls back to its own backoff."""
    seconds = retry.parse_retry_after(value, now)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def provider_message(response: requests.Response, secrets: Collection[str] = ()) -> str:
    """The provider's own words about an error, at most 300 characters, secrets removed.

    Reads JSON `message`/`error`/`title`/`detail`/`errors`, or else a short excerpt of the
    text. `secrets` adds values to redact beyond what the request's Authorization header
    reveals."""
    head = _body_head(response)
    text = head.decode(response.encoding or "utf-8", errors="replace")
    message = _json_message(text) or _text_excerpt(text, response.headers.get("Content-Type"))
    for secret in sorted({*secrets, *_request_secrets(response)}, key=len, reverse=True):
        if secret:
            message = message.replace(secret, "***")
    message = _AUTH_VALUE.sub(r"\1 ***", message)
    if len(message) > _EXCERPT_CHARS:
        message = message[: _EXCERPT_CHARS - 1].rstrip() + "…"
    return message


# --- failures before an answer -----------------------------------------------------------


def _translate_exception(
    exc: requests.RequestException,
    *,
    url: str,
    timeout: tuple[float, float],
    idempotent: bool,
    what: str,
) -> Exception:
    host = _host(url)
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return RejectedError(
            f"{what}: the provider URL {url!r} is not valid.",
            "Check base_url in the provider's configuration.",
        )
    if isinstance(exc, requests.exceptions.InvalidSchema):
        return RejectedError(
            f"{what}: the provider URL {url!r} does not start with https:// or http://.",
            "Check base_url in the provider's configuration.",
        )
    reason = _reason(exc)
    if not _may_have_been_sent(exc, reason):
        return TransientError(
            f"{what} did not reach {host}: {_not_sent_description(exc, reason, timeout)}.",
            _not_sent_hint(exc),
        )
    description = _sent_description(exc, reason, timeout)
    if idempotent:
        return TransientError(f"{what} failed at {host}: {description}.", _RETRY_HINT)
    return OutcomeUnknownError(
        f"{what} was sent to {host}, but no complete answer came back: {description}.",
        _MAYBE_HINT,
    )


def _reason(exc: requests.RequestException) -> BaseException | None:
    """The urllib3 error underneath a requests exception."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, u3.MaxRetryError):
        return inner.reason
    if isinstance(inner, BaseException):
        return inner
    return None


def _may_have_been_sent(exc: requests.RequestException, reason: BaseException | None) -> bool:
    # urllib3's own split (Retry._is_connection_error): a ConnectTimeoutError, which
    # NewConnectionError and NameResolutionError subclass, means the request never left.
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(reason, u3.ProxyError):
        reason = reason.original_error
    if isinstance(reason, u3.ConnectTimeoutError):
        return False
    if isinstance(exc, requests.exceptions.SSLError):
        # Certificate checks happen in the handshake, before any byte of the request.
        return not _is_verification_failure(reason)
    # Read timeouts, resets, closes without an answer, cut-off bodies and anything not
    # recognised: the provider may have acted on it.
    return True


def _is_verification_failure(reason: BaseException | None) -> bool:
    seen = 0
    while reason is not None and seen < 8:
        if isinstance(reason, ssl.SSLCertVerificationError | ssl.CertificateError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(reason):
            return True
        nested = reason.args[0] if reason.args else None
        reason = nested if isinstance(nested, BaseException) else reason.__context__
        seen += 1
    return False


def _not_sent_description(
    exc: requests.RequestException, reason: BaseException | None, timeout: tuple[float, float]
) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "its TLS certificate could not be verified"
    if isinstance(reason, u3.NameResolutionError):
        return "the host name could not be resolved"
    if isinstance(reason, u3.NewConnectionError):
        cause = _oserror(reason)
        if cause is not None and cause.errno == errno.ECONNREFUSED:
            return "the connection was refused"
        if cause is not None and cause.strerror:
            return f"no connection ({cause.strerror.lower()})"
        return "no connection could be made"
    return f"no connection within {timeout[0]:g} s"


def _not_sent_hint(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return (
            "If the provider's certificate is signed by a private CA, set ca_bundle in the "
            "provider's configuration; faxd tries again later."
        )
    return _RETRY_HINT


def _sent_description(
    exc: requests.RequestException, reason: BaseException | None, timeout: tuple[float, float]
) -> str:
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"no answer within {timeout[1]:g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "the answer could not be decoded"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS connection broke"
    cause = _oserror(reason)
    if cause is not None and cause.errno == errno.ECONNRESET:
        return "the connection was reset"
    if cause is not None and cause.errno == errno.EPIPE:
        return "the connection was closed while the request was being sent"
    if isinstance(reason, u3.ProtocolError):
        return "the connection was closed without an answer"
    return f"the request failed ({type(exc).__name__})"


def _oserror(reason: BaseException | None) -> OSError | None:
    seen = 0
    while reason is not None and seen < 8:
        if isinstance(reason, OSError) and reason.errno is not None:
            return reason
        nested = next((a for a in reason.args if isinstance(a, BaseException)), None)
        reason = nested or reason.__cause__ or reason.__context__
        seen += 1
    return None


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "the provider"
    # netloc may carry user:password@; only host and port are safe to name.
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


# --- error answers -----------------------------------------------------------------------


def _status_error(response: requests.Response, what: str) -> Exception:
    code = response.status_code
    label = _status_label(code)
    if code == 429:
        return TransientError(
            f"{what} was throttled by the provider (HTTP {label}).",
            "faxd pauses this provider and tries again later.",
            retry_after=_retry_after(response),
            status_code=code,
            throttled=True,
        )
    if code >= 500 or code in _TRANSIENT_STATUSES:
        return TransientError(
            f"{what} failed for now: the provider answered HTTP {label}{_quoted(response)}.",
            _RETRY_HINT,
            retry_after=_retry_after(response),
            status_code=code,
        )
    if code in (401, 403):
        return AuthError(
            f"{what} was refused: the provider answered HTTP {label}{_quoted(response)}.",
            "Check the provider's credential file (api_key_file, password_file) and that the "
            "account has API access; faxd holds this provider's queue until it is fixed.",
            status_code=code,
        )
    if 300 <= code < 400:
        location = response.headers.get("Location", "another address")
        return RejectedError(
            f"{what}: the provider answered HTTP {label} and points to {_host(location)}.",
            "Check base_url in the provider's configuration.",
            status_code=code,
        )
    return RejectedError(
        f"{what} was rejected by the provider: HTTP {label}{_quoted(response)}.",
        "Sending it again unchanged fails the same way; fix the document or its recipient.",
        status_code=code,
    )


def _status_label(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _quoted(response: requests.Response) -> str:
    message = provider_message(response)
    return f' ("{message}")' if message else ""


def _retry_after(response: requests.Response) -> float | None:
    now = datetime.now(UTC)
    date = response.headers.get("Date")
    if date:
        # An HTTP-date Retry-After is relative to the server's clock, not ours.
        try:
            server_now = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            server_now = None
        if server_now is not None:
            now = server_now if server_now.tzinfo else server_now.replace(tzinfo=UTC)
    return parse_retry_after(response.headers.get("Retry-After"), now)


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value)


def _body_head(response: requests.Response) -> bytes:
    try:
        # iter_content works on both streamed and already-read responses, and reads no
        # more than one chunk of a streamed one.
        return next(response.iter_content(chunk_size=_BODY_HEAD), b"")
    except (requests.RequestException, u3.HTTPError, OSError, RuntimeError):
        return b""


_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also accepts "²" and other scripts' digits
_AUTH_VALUE = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=:-]{6,}", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _request_secrets(response: requests.Response) -> list[str]:
    request = response.request
    header = request.headers.get("Authorization") if request is not None else None
    if not header:
        return []
    secrets = [header]
    scheme, _, credential = header.partition(" ")
    if credential:
        secrets.append(credential)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            _user, sep, password = decoded.partition(":")
            if sep and password:
                secrets.append(password)
    return secrets


def _json_message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    return _message_from(data)


def _message_from(data: Any) -> str:
    if isinstance(data, str):
        return _SPACE.sub(" ", data).strip()
    if isinstance(data, list):
        return "; ".join(m for m in (_message_from(item) for item in data[:5]) if m)
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    for key in ("message", "Message", "error", "title", "detail", "error_description"):
        value = data.get(key)
        text = _message_from(value) if isinstance(value, str | dict | list) else ""
        if text and text not in parts:
            parts.append(text)
    errors = data.get("errors")
    if isinstance(errors, dict):  # ASP.NET validation problems: {"field": ["message"]}
        for field, value in list(errors.items())[:5]:
            text = _message_from(value)
            if text:
                parts.append(f"{field}: {text}")
    elif isinstance(errors, list):
        text = _message_from(errors)
        if text:
            parts.append(text)
    return " - ".join(parts)


def _text_excerpt(text: str, content_type: str | None) -> str:
    if "html" in (content_type or "").lower() or text.lstrip().startswith("<"):
        text = _HTML_TAG.sub(" ", text)
    return _SPACE.sub(" ", text).strip()
