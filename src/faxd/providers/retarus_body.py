"""The Retarus job request as a streamed body.

Retarus takes documents base64-encoded inside the JSON job. Building
that JSON in memory would hold a 16 MB document three times over (file, base64, JSON
text); this body reads each file from disk while it is sent, one bounded chunk at a time,
and knows its length beforehand so `http.call` sends a Content-Length, not chunked encoding."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from faxd.errors import RejectedError
from faxd.host import contained
from faxd.providers.retarus_wire import DocumentHead

# A multiple of 3, so every chunk encodes to base64 without padding in the middle.
DEFAULT_CHUNK = 3 * 16 * 1024


@dataclass(frozen=True)
class BodyDocument:
    head: DocumentHead
    path: Path


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _size(path: Path) -> int:
    fd = contained.open_file(path)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def _read_full(stream: BinaryIO, want: int) -> bytes:
    """Up to `want` bytes, fewer only at the end of the file."""
    parts: list[bytes] = []
    got = 0
    while got < want:
        piece = stream.read(want - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


class StreamedJobBody:
    """An iterable of bytes with a length: pass it as `data=` to `http.call`.

    Iterating again starts over from the first byte, so the body can be sent again."""

    def __init__(
        self,
        job: Mapping[str, Any],
        documents: Sequence[BodyDocument],
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        if chunk_size <= 0 or chunk_size % 3:
            raise ValueError("chunk_size must be a positive multiple of 3")
        if "documents" in job:
            raise ValueError("the job must not carry documents; they are streamed")
        self._chunk = chunk_size
        head = _dumps(dict(job))
        # The job's own keys, then "documents" last, whose data is spliced in as it is read.
        self._prefix = (head[:-1] + ("," if job else "") + '"documents":[').encode("ascii")
        self._suffix = b"]}"
        self._documents = [(doc, _size(doc.path)) for doc in documents]
        self._length = len(self._prefix) + len(self._suffix)
        for index, (doc, size) in enumerate(self._documents):
            opening, closing = self._frame(doc, index)
            self._length += len(opening) + base64_length(size) + len(closing)

    @staticmethod
    def _frame(doc: BodyDocument, index: int) -> tuple[bytes, bytes]:
        fields: dict[str, str] = {"name": doc.head.name}
        if doc.head.charset:
            fields["charset"] = doc.head.charset
        opening = ("," if index else "") + _dumps(fields)[:-1] + ',"data":"'
        return opening.encode("ascii"), b'"}'

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        yield self._prefix
        for index, (doc, size) in enumerate(self._documents):
            opening, closing = self._frame(doc, index)
            yield opening
            yield from self._encoded(doc.path, size)
            yield closing
        yield self._suffix

    def _encoded(self, path: Path, size: int) -> Iterator[bytes]:
        sent = 0
        with contained.opened(path) as stream:
            while sent < size:
                data = _read_full(stream, min(self._chunk, size - sent))
                if not data:
                    break
                sent += len(data)
                yield base64.b64encode(data)
            if sent != size or stream.read(1):
                # The Content-Length is already on the wire: the request cannot be finished.
                raise RejectedError(
                    f"{path.name}: the file changed size while it was being sent to Retarus.",
                    "Make sure nothing writes to files in the spool folder after they settled,"
                    " then drop the document again.",
                )
