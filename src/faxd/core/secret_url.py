"""A webhook URL may be its own credential: Slack, Teams and Discord put the token in the
path (`/services/T000/B000/XXXX`), other services in the query (`?token=`, `?sig=`), and
anyone who has the URL can post to the hook. Where faxd shows such a URL (errors, status,
notices, check-config) it shows only `scheme://host[:port]/…`, and the parts after the
host are registered with the log redaction for the lines faxd does not word itself (a
library's debug line names the request's path and query)."""

from __future__ import annotations

import re
import urllib.parse

# Every secret is masked wherever it appears in a log line; a very short one would mask
# ordinary text ("a" in every word), and is too weak to be a real credential anyway.
MIN_SECRET_LENGTH = 8
# A path segment of letters only is a word ("services", "IncomingWebhook"), not a token,
# unless it is longer than words in a path are.
WORD_LENGTH = 20
HIDDEN = "***"
HIDDEN_TAIL = "/…"

_AUTHORITY = re.compile(r"(?P<authority>[^/?#]*)(?P<tail>.*)", re.DOTALL)


def _split(url: str) -> tuple[str, str, str]:
    """`scheme://`, the host with its port (without any user:password@), and the rest."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    found = _AUTHORITY.match(rest)
    assert found is not None  # the expression matches any text
    authority = found["authority"].rpartition("@")[2]
    return f"{scheme}{sep}", authority, found["tail"]


def shown_url(url: str) -> str:
    """`url` as it may be shown: scheme, host and port, and `/…` for a path or query."""
    scheme, authority, tail = _split(url)
    return f"{scheme}{authority}{HIDDEN_TAIL if tail.strip('/') else tail}"


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of `url` that may be a credential, longest first, for the log redaction:
    the URL, its path and query whole, its query, and each query value and path segment
    long enough to be a token."""
    _, _, tail = _split(url)
    if not tail.strip("/"):
        return ()  # shown whole: nothing to hide
    path, _, query = tail.partition("#")[0].partition("?")
    found = {url, tail, query}
    for _, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        found.add(value)
    for pair in re.split(r"[&;]", query):
        found.add(pair.partition("=")[2])  # as written, percent-escapes and all
    for segment in path.split("/"):
        for form in (segment, urllib.parse.unquote(segment)):
            if len(form) >= WORD_LENGTH or not form.isalpha():
                found.add(form)
    kept = {part for part in found if len(part) >= MIN_SECRET_LENGTH}
    return tuple(sorted(kept, key=len, reverse=True))


def without_url_secrets(text: str, url: str) -> str:
    """`text` with `url` shown as `shown_url` and every part of it that may be a credential
    masked (a receiver's answer may echo its token: "invalid token …")."""
    text = text.replace(url, shown_url(url))
    for part in url_secrets(url):
        text = text.replace(part, HIDDEN)
    return text
