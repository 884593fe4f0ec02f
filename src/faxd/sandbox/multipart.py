"""A strict multipart/form-data parser (RFC 7578) for the emulated /Send endpoint.

The stdlib's `cgi` is deprecated and `email` guesses; this parser refuses what a careful
server would refuse: no boundary, a missing closing delimiter, a part without a name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None  # media type only, lower case; None when the part had none
    data: bytes


_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def media_type(header: str | None) -> str:
    """`multipart/form-data; boundary=x` -> `multipart/form-data`."""
    return (header or "").split(";", 1)[0].strip().lower()


def header_params(header: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, raw in _PARAM.findall(header):
        value = raw.strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key.lower()] = value
    return params


def boundary_of(content_type: str | None) -> str:
    boundary = header_params(content_type or "").get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise MultipartError("the multipart Content-Type has no valid boundary parameter")
    return boundary


def _extended(value: str) -> str:
    """RFC 5987 `filename*=UTF-8''na%C3%AFve.pdf`."""
    charset, _, rest = value.partition("'")
    _, _, encoded = rest.partition("'")
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        raise MultipartError(f"cannot decode the extended file name {value!r}") from None


def _headers(block: bytes) -> dict[str, str]:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        text = block.decode("latin-1")
    headers: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError(f"a part header line has no colon: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def parse_multipart(body: bytes, boundary: str) -> list[Part]:
    delimiter = b"--" + boundary.encode("latin-1")
    if body.startswith(delimiter):
        pos = 0
    else:
        found = body.find(b"\r\n" + delimiter)
        if found < 0:
            raise MultipartError("the body does not contain the declared boundary")
        pos = found + 2
    parts: list[Part] = []
    while True:
        pos += len(delimiter)
        if body[pos : pos + 2] == b"--":
            return parts
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            raise MultipartError("a boundary line is malformed")
        head_end = body.find(b"\r\n\r\n", line_end)
        if head_end < 0:
            raise MultipartError("a part has no end of headers")
        if head_end == line_end:
            headers: dict[str, str] = {}
        else:
            headers = _headers(body[line_end + 2 : head_end])
        data_start = head_end + 4
        next_delim = body.find(b"\r\n" + delimiter, data_start)
        if next_delim < 0:
            raise MultipartError("the body ends without the closing boundary")
        disposition = headers.get("content-disposition", "")
        if media_type(disposition) != "form-data":
            raise MultipartError("a part has no 'Content-Disposition: form-data' header")
        params = header_params(disposition)
        name = params.get("name")
        if not name:
            raise MultipartError("a part has no field name")
        filename: str | None = params.get("filename")
        if "filename*" in params:
            filename = _extended(params["filename*"])
        ctype = headers.get("content-type")
        parts.append(
            Part(
                name=name,
                filename=filename,
                content_type=media_type(ctype) if ctype else None,
                data=body[data_start:next_delim],
            )
        )
        pos = next_delim + 2
