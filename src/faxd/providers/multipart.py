"""A multipart/form-data request body streamed from disk.

urllib3's own `encode_multipart_formdata` builds the whole body in memory; five 16 MB
files per upload with several uploads in flight would hold hundreds of megabytes.
`MultipartBody` is a file-like object with a known length: `http.call` sends it with a
Content-Length header and urllib3 reads it block by block while sending."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from urllib3.fields import RequestField

from faxd.host import contained

__all__ = ["FilePart", "MultipartBody"]


@dataclass(frozen=True)
class FilePart:
    field: str  # the form field name ("file")
    path: Path
    filename: str  # the name the provider sees
    content_type: str


class MultipartBody:
    """Form fields then file parts; every file is opened (and its size taken) up front, so
    a missing file fails before any byte is sent.

    A file that shrinks while it is being sent makes `read` raise OSError: the body would
    otherwise be shorter than its Content-Length and the server would wait for the rest."""

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        files: Sequence[FilePart],
        *,
        boundary: str | None = None,
    ) -> None:
        self.boundary = boundary or secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        # Each segment is either bytes to send as they are or an open file and its length.
        self._segments: list[bytes | tuple[BinaryIO, int, Path]] = []
        self._handles: list[BinaryIO] = []
        try:
            for name, value in fields:
                self._segments.append(self._part_head(name, None, None) + value.encode("utf-8"))
                self._segments.append(b"\r\n")
            for part in files:
                # Never through a link: the file is one faxd copied or converted itself.
                handle = os.fdopen(contained.open_file(part.path), "rb")
                self._handles.append(handle)
                size = os.fstat(handle.fileno()).st_size
                self._segments.append(self._part_head(part.field, part.filename, part.content_type))
                self._segments.append((handle, size, part.path))
                self._segments.append(b"\r\n")
        except BaseException:
            self.close()
            raise
        self._segments.append(f"--{self.boundary}--\r\n".encode("ascii"))
        self._length = sum(_seg_len(s) for s in self._segments)
        self._index = 0
        self._remaining_in_file: int | None = None
        # A local read failure, kept so the caller can tell it from a network failure.
        self.failed: OSError | None = None

    def _part_head(self, name: str, filename: str | None, content_type: str | None) -> bytes:
        field = RequestField(name=name, data=b"", filename=filename)
        field.make_multipart(content_type=content_type)
        return f"--{self.boundary}\r\n".encode("ascii") + field.render_headers().encode("utf-8")

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(64 * 1024):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of the body (all of the rest when size < 0)."""
        out = bytearray()
        while self._index < len(self._segments) and (size < 0 or len(out) < size):
            want = -1 if size < 0 else size - len(out)
            segment = self._segments[self._index]
            if isinstance(segment, bytes):
                take = segment if want < 0 else segment[:want]
                out += take
                rest = segment[len(take) :]
                if rest:
                    self._segments[self._index] = rest
                else:
                    self._index += 1
                continue
            try:
                out += self._read_file(segment, want)
            except OSError as exc:
                self.failed = exc
                raise
        return bytes(out)

    def _read_file(self, segment: tuple[BinaryIO, int, Path], want: int) -> bytes:
        handle, size, path = segment
        if self._remaining_in_file is None:
            self._remaining_in_file = size
        count = self._remaining_in_file if want < 0 else min(want, self._remaining_in_file)
        data = handle.read(count) if count else b""
        if len(data) < count:
            raise OSError(f"{path.name} became shorter while it was being sent")
        self._remaining_in_file -= len(data)
        if self._remaining_in_file == 0:
            self._remaining_in_file = None
            self._index += 1
        return data

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles.clear()

    def __enter__(self) -> MultipartBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _seg_len(segment: bytes | tuple[BinaryIO, int, Path]) -> int:
    return len(segment) if isinstance(segment, bytes) else segment[1]
