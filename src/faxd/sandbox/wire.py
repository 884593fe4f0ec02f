"""Requests and answers as the API modules see them, independent of http.server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from faxd.sandbox.blobs import Blob


@dataclass
class Request:
    method: str
    path: str  # what follows the API's base path, without the query string
    headers: Message  # case-insensitive
    body: bytes
    cache: dict[str, Any] = field(default_factory=dict)  # parsed body, shared by steps

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    blob: Blob | None = None  # streamed instead of `body` when set


def json_response(
    status: int, data: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    # ensure_ascii keeps hostile names (lone surrogates, control characters) valid JSON
    body = json.dumps(data, ensure_ascii=True).encode("ascii")
    return Response(status=status, body=body, headers=list(headers or []))


class JsonBodyError(ValueError):
    """The body is not the JSON the endpoint needs; the message says why."""


def json_body(request: Request) -> Any:
    """The parsed JSON body; JsonBodyError when it is missing or not JSON."""
    if "json" in request.cache:
        return request.cache["json"]
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JsonBodyError(f"the request body is not valid JSON ({exc})") from None
    request.cache["json"] = data
    return data
