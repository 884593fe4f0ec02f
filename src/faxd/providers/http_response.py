"""One provider answer as faxd reads it: status, headers, and the body, read whole or
streamed.

Built by `http.call` over a urllib3 response. It remembers the Authorization value the
request carried, and only so that an error body quoting it back can be redacted; its repr
shows the status alone."""

from __future__ import annotations

import json
from email.message import Message
from typing import Any

from urllib3.response import BaseHTTPResponse

__all__ = ["Response"]


class Response:
    """An answer. `content` is the whole body: already read unless the request was
    streamed, then read on first use. `raw` is the urllib3 response, for streaming."""

    def __init__(
        self, raw: BaseHTTPResponse, authorization: str | None, content: bytes | None = None
    ) -> None:
        self.raw = raw
        self.status_code: int = raw.status
        self.headers = raw.headers  # case-insensitive
        self._authorization = authorization
        self._content = content

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"

    @property
    def authorization(self) -> str | None:
        """The Authorization value the request was sent with: for redaction only."""
        return self._authorization

    @property
    def content(self) -> bytes:
        if self._content is None:
            try:
                self._content = self.raw.read(decode_content=True)
            finally:
                self.raw.release_conn()
        return self._content

    @property
    def content_read(self) -> bool:
        return self._content is not None

    @property
    def encoding(self) -> str | None:
        """The charset the Content-Type names, if any."""
        content_type = self.headers.get("Content-Type")
        if not content_type:
            return None
        message = Message()
        message["Content-Type"] = content_type
        charset = message.get_param("charset")
        return charset if isinstance(charset, str) else None

    def json(self) -> Any:
        """The body as JSON (UTF-8, -16 or -32); ValueError when it is not."""
        return json.loads(self.content)

    def head(self, limit: int) -> bytes:
        """At most `limit` bytes from the start of the body, reading no more of a streamed
        one than that."""
        if self._content is not None:
            return self._content[:limit]
        return self.raw.read(limit, decode_content=True)

    def close(self) -> None:
        """Give the connection back; one whose body was not read to the end is closed
        rather than reused."""
        if self._content is None:
            self.raw.close()
        self.raw.release_conn()
