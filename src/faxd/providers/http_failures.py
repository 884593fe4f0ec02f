"""What a failed provider request means to faxd: which error, which words.

`failure` reads a urllib3 error raised while a request was under way; `status_error` an
answer outside 2xx. The distinction that matters most is *when* a request failed:

- before it left (refused, DNS, connect timeout, a failed TLS handshake): nothing reached the
  provider, so it is always safe to send again -> `TransientError`;
- after it left (read timeout, connection reset or closed without an answer, a cut-off
  answer): the provider may have acted on it -> `OutcomeUnknownError` for a request that
  changes something (`idempotent=False`), `TransientError` for a lookup that can simply
  be repeated.

HTTP answers map as: 429 -> `TransientError(throttled=True, retry_after=…)`; 408/425
-> `TransientError`; any 5xx -> `TransientError` for a lookup, `OutcomeUnknownError` (with
the answer's Retry-After) for a request that changes something (a 504 from a gateway, a
500 after the request was read, a 503 from a load balancer whose backend went away while
it worked: the provider may have acted on it); 401/403 -> `AuthError`; 3xx and every other
4xx -> `RejectedError` with the provider's own message, from which anything like the
request's credential is removed."""

from __future__ import annotations

import base64
import binascii
import errno
import json
import re
import ssl
import traceback
from collections.abc import Collection
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import urllib3.exceptions as u3

from faxd.core import retry
from faxd.errors import AuthError, OutcomeUnknownError, RejectedError, TransientError
from faxd.providers.http_response import Response

__all__ = [
    "MAX_RETRY_AFTER",
    "MAYBE_HINT",
    "RETRY_HINT",
    "failure",
    "host_of",
    "invalid_url",
    "parse_retry_after",
    "provider_message",
    "status_error",
]

# An absurd Retry-After (a day, a year) must not park a document for ever.
MAX_RETRY_AFTER = 6 * 3600.0
# How much of an error body is read and quoted.
_BODY_HEAD = 8192
_EXCERPT_CHARS = 300

RETRY_HINT = "faxd tries again later."
MAYBE_HINT = "The provider may have accepted it: faxd asks the provider before sending it again."
_TRANSIENT_STATUSES = frozenset({408, 425})  # the server gave up before acting: resend
_CHECK_URL = "Check base_url in the provider's configuration."


def invalid_url(url: str, what: str) -> RejectedError | None:
    """Why `url` cannot be sent to, or None: faxd speaks HTTP(S) to a named host only."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme and "://" in url and scheme not in ("http", "https"):
        return RejectedError(
            f"{what}: the provider URL {url!r} does not start with https:// or http://.",
            _CHECK_URL,
        )
    try:
        _ = parts.port
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https") or not parts.hostname:
        return RejectedError(f"{what}: the provider URL {url!r} is not valid.", _CHECK_URL)
    return None


# --- failures before an answer -----------------------------------------------------------


def failure(
    exc: Exception,
    *,
    url: str,
    timeout: tuple[float, float],
    idempotent: bool,
    what: str,
    reading_body: bool,
) -> Exception:
    """The faxd error for a urllib3 error (or an OSError) raised by a request to `url`.
    `reading_body`: it came while the answer's body was read, after its status line."""
    host = host_of(url)
    if isinstance(exc, u3.LocationValueError):
        return RejectedError(f"{what}: the provider URL {url!r} is not valid.", _CHECK_URL)
    reason: BaseException = exc
    if isinstance(reason, u3.ProxyError) and reason.original_error is not None:
        reason = reason.original_error
    if not _may_have_been_sent(reason):
        return TransientError(
            f"{what} did not reach {host}: {_not_sent_description(reason, timeout)}.",
            _not_sent_hint(reason),
        )
    description = _sent_description(reason, timeout, reading_body)
    if idempotent:
        return TransientError(f"{what} failed at {host}: {description}.", RETRY_HINT)
    return OutcomeUnknownError(
        f"{what} was sent to {host}, but no complete answer came back: {description}.",
        MAYBE_HINT,
    )


def _may_have_been_sent(reason: BaseException) -> bool:
    # urllib3's own split (Retry._is_connection_error): a ConnectTimeoutError, which
    # NewConnectionError and NameResolutionError subclass, means the request never left.
    if isinstance(reason, u3.ConnectTimeoutError):
        return False
    if _in_handshake(reason):
        # The TLS handshake comes before any byte of the request: a server that answered
        # it in plain HTTP, an alert, a close half way. None of them saw the request.
        return False
    if isinstance(reason, u3.SSLError | ssl.SSLError):
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


def _in_handshake(reason: BaseException | None) -> bool:
    """Whether the error came out of the TLS handshake: told by where it was raised,
    since the same EOF or reset after the handshake may follow a request that left."""
    seen = 0
    while reason is not None and seen < 8:
        if not _is_verification_failure(reason) and any(
            frame.f_code.co_name == "do_handshake"
            for frame, _ in traceback.walk_tb(reason.__traceback__)
        ):
            return True
        nested = next((a for a in reason.args if isinstance(a, BaseException)), None)
        reason = nested or reason.__cause__ or reason.__context__
        seen += 1
    return False


def _not_sent_description(reason: BaseException, timeout: tuple[float, float]) -> str:
    if _in_handshake(reason):
        # In the message, not only the hint: a report quotes the message.
        return (
            "the TLS handshake failed (check that base_url's scheme, https:// or http://,"
            " and port match the server)"
        )
    if isinstance(reason, u3.SSLError | ssl.SSLError):
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


def _not_sent_hint(reason: BaseException) -> str:
    if _in_handshake(reason):
        return (
            "The server did not speak TLS as base_url expects: check that its scheme "
            "(https:// or http://) and port match the server; faxd tries again later."
        )
    if isinstance(reason, u3.SSLError | ssl.SSLError):
        return (
            "If the provider's certificate is signed by a private CA, set ca_bundle in the "
            "provider's configuration; faxd tries again later."
        )
    return RETRY_HINT


def _sent_description(
    reason: BaseException, timeout: tuple[float, float], reading_body: bool
) -> str:
    if isinstance(reason, u3.DecodeError):
        return "the answer could not be decoded"
    if reading_body:
        return "the answer was cut off"
    if isinstance(reason, u3.ReadTimeoutError):
        return f"no answer within {timeout[1]:g} s"
    if isinstance(reason, u3.SSLError | ssl.SSLError):
        return "the TLS connection broke"
    cause = _oserror(reason)
    if cause is not None and cause.errno == errno.ECONNRESET:
        return "the connection was reset"
    if cause is not None and cause.errno == errno.EPIPE:
        return "the connection was closed while the request was being sent"
    if isinstance(reason, u3.ProtocolError):
        return "the connection was closed without an answer"
    return f"the request failed ({type(reason).__name__})"


def _oserror(reason: BaseException | None) -> OSError | None:
    seen = 0
    while reason is not None and seen < 8:
        if isinstance(reason, OSError) and reason.errno is not None:
            return reason
        nested = next((a for a in reason.args if isinstance(a, BaseException)), None)
        reason = nested or reason.__cause__ or reason.__context__
        seen += 1
    return None


def host_of(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "the provider"
    # netloc may carry user:password@; only host and port are safe to name.
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


# --- error answers -----------------------------------------------------------------------


def status_error(response: Response, what: str, *, idempotent: bool = True) -> Exception:
    code = response.status_code
    label = _status_label(code)
    if code >= 500 and not idempotent:
        # A gateway that timed out (504) or got a bad answer (502), or a server error
        # after the request was read (500), may sit behind a provider that acted on it.
        # So may a 503, whatever the API page says it means: the load balancer in front
        # answers it too when the backend that took the request drops out before it
        # answered, and nothing in the answer tells which of them spoke.
        return OutcomeUnknownError(
            f"{what} may have reached the provider: it answered HTTP {label}{_quoted(response)}.",
            MAYBE_HINT,
            retry_after=_retry_after(response),
            status_code=code,
        )
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
            RETRY_HINT,
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
            f"{what}: the provider answered HTTP {label} and points to {host_of(location)}.",
            _CHECK_URL,
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


def _quoted(response: Response) -> str:
    message = provider_message(response)
    return f' ("{message}")' if message else ""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header, capped at MAX_RETRY_AFTER; None when
    missing, unreadable or already past, so the caller falls back to its own backoff."""
    seconds = retry.parse_retry_after(value, now)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def _retry_after(response: Response) -> float | None:
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


# --- the provider's words ----------------------------------------------------------------


def provider_message(response: Response, secrets: Collection[str] = ()) -> str:
    """The provider's own words about an error, at most 300 characters, secrets removed.

    Reads JSON `message`/`error`/`title`/`detail`/`errors`, or else a short excerpt of the
    text. `secrets` adds values to redact beyond what the request's Authorization header
    reveals."""
    head = _body_head(response)
    text = head.decode(_codec(response.encoding), errors="replace")
    message = _json_message(text) or _text_excerpt(text, response.headers.get("Content-Type"))
    for secret in sorted({*secrets, *_request_secrets(response)}, key=len, reverse=True):
        if secret:
            message = message.replace(secret, "***")
    message = _AUTH_VALUE.sub(r"\1 ***", message)
    if len(message) > _EXCERPT_CHARS:
        message = message[: _EXCERPT_CHARS - 1].rstrip() + "…"
    return message


def _codec(name: str | None) -> str:
    if name:
        try:
            "".encode(name)
        except LookupError:
            return "utf-8"
        return name
    return "utf-8"


def _body_head(response: Response) -> bytes:
    try:
        return response.head(_BODY_HEAD)
    except (u3.HTTPError, OSError, ValueError):
        return b""


_AUTH_VALUE = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=:-]{6,}", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _request_secrets(response: Response) -> list[str]:
    header = response.authorization
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
