"""An HTTP POST of the event as JSON, signed so the receiver can trust it:
X-Faxd-Signature is the hex HMAC-SHA256 of the exact body with the shared secret, and
X-Faxd-Event-Id stays the same on every attempt, so a receiver drops repeats."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
from pathlib import Path
from urllib.parse import urljoin

import requests
import urllib3

from faxd.channels import watched_http
from faxd.channels.base import ChannelError, Message
from faxd.channels.deadline import Deadline
from faxd.core.printable import safe_values, shown
from faxd.core.secret_url import shown_url, without_url_secrets
from faxd.settings import WebhookChannel

# Of an answer only its start is read, for the error: a receiver answering hundreds of MB
# (a proxy's error page, a misrouted download) must not fill the daemon's memory.
ANSWER_READ = 4096
ANSWER_SHOWN = 200  # characters of it in the error


def event_body(message: Message) -> bytes:
    event = {
        "id": message.event_id,
        "kind": message.kind,
        "event": message.event,
        "subject": message.subject,
        "text": message.text,
        **{k: v for k, v in message.fields.items() if k not in ("id", "kind", "event")},
    }
    # JSON is UTF-8: a file name that is not goes out with its odd bytes as \xNN.
    return json.dumps(safe_values(event), sort_keys=True, ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def trusted_cas(ca_bundle: Path | None) -> str | bool:
    """What the receiver's certificate is checked against: `ca_bundle`, else the system's
    CA store, as for mail (a CA added with update-ca-certificates counts), else requests'
    own bundle where OpenSSL names no store."""
    if ca_bundle is not None:
        return str(ca_bundle)
    paths = ssl.get_default_verify_paths()
    return paths.cafile or paths.capath or True


class WebhookSender:
    def __init__(self, settings: WebhookChannel) -> None:
        self.name = settings.name
        self._settings = settings
        # The URL may carry the hook's token (in its path or query): errors name the host.
        self._shown = shown_url(settings.url)
        self._session = watched_http.session()
        # A path, so REQUESTS_CA_BUNDLE cannot replace it; the proxy settings still count.
        self._verify = trusted_cas(settings.ca_bundle)

    def send(self, message: Message) -> None:
        s = self._settings
        limit = 2 * s.timeout  # for the whole exchange: `timeout` bounds each read
        with watched_http.within(Deadline(limit)) as deadline:
            try:
                self._post(message)
            except ChannelError:
                if not deadline.passed:
                    raise
                raise ChannelError(
                    f"{self._shown} did not answer within {limit:.0f} s "
                    "(it answers, but too slowly)"
                ) from None

    def _post(self, message: Message) -> None:
        s = self._settings
        body = event_body(message)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "faxd",
            "X-Faxd-Event-Id": message.event_id,
            "X-Faxd-Event": message.event,
        }
        if s.secret is not None:
            headers["X-Faxd-Signature"] = signature(s.secret.reveal(), body)
        try:
            answer = self._session.post(
                s.url,
                data=body,
                headers=headers,
                timeout=s.timeout,
                verify=self._verify,
                allow_redirects=False,
                stream=True,  # the body is read below, at most ANSWER_READ bytes of it
            )
        except requests.Timeout:
            raise ChannelError(f"{self._shown} did not answer within {s.timeout:g} s") from None
        except requests.RequestException as exc:
            raise ChannelError(f"cannot reach {self._shown} ({exc.__class__.__name__})") from None
        with answer:
            status = answer.status_code
            if 200 <= status < 300:
                return
            # A receiver may echo the token it refuses ("invalid token …").
            said = without_url_secrets(_start_of(answer), s.url)
            moved = _moved_to(answer, s.url)
        # 4xx other than 408/429 means the receiver refuses this event: retrying cannot help.
        # Nor can a redirect for good (http to https): the URL answers the same all day, and
        # a POST is not followed (it goes on as a GET, or to a host the office did not name).
        permanent = (400 <= status < 500 and status not in (408, 409, 429)) or moved is not None
        where = f" (moved for good to {moved}: set the channel's url to it)" if moved else ""
        raise ChannelError(
            f"{self._shown} answered HTTP {status}{where}{': ' + said if said else ''}",
            permanent=permanent,
        )

    def close(self) -> None:
        self._session.close()


def _moved_to(answer: requests.Response, url: str) -> str | None:
    """Where a 301 or 308 says the hook is now, shown as its host (the new URL may carry
    the token too); None for any other answer."""
    if answer.status_code not in (301, 308):
        return None
    location = answer.headers.get("Location", "")
    return shown(shown_url(urljoin(url, location))) if location else "another address"


def _start_of(answer: requests.Response) -> str:
    """The first words of an answer, on one line; the rest is left unread (closing the
    answer drops the connection)."""
    try:
        data = answer.raw.read(ANSWER_READ, decode_content=True)
    except (OSError, urllib3.exceptions.HTTPError, requests.RequestException):
        return ""  # the status says enough
    text = " ".join(data.decode("utf-8", "replace").split())
    return shown(text[:ANSWER_SHOWN])
