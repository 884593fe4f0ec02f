"""File contents the emulator serves: in memory, generated on the fly, or from disk.

Generated blobs let a scenario offer very large received files without holding them in
memory; every blob is read in chunks so downloads stream."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class Blob(Protocol):
    @property
    def size(self) -> int: ...

    def chunks(self, chunk_size: int = 65536) -> Iterator[bytes]: ...


class BytesBlob:
    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def chunks(self, chunk_size: int = 65536) -> Iterator[bytes]:
        view = memoryview(self.data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])


class GeneratedBlob:
    """A PDF-looking file of exactly `size` bytes, the same for the same seed."""

    _HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    _TAIL = b"\n%%EOF\n"

    def __init__(self, size: int, seed: str) -> None:
        self._size = size
        self._block = b"".join(
            hashlib.sha256(f"{seed}:{i}".encode()).hexdigest().encode() for i in range(64)
        )

    @property
    def size(self) -> int:
        return self._size

    def _byte_range(self, start: int, end: int) -> bytes:
        head, tail, block = self._HEAD, self._TAIL, self._block
        tail_start = max(len(head), self._size - len(tail))
        out = bytearray()
        pos = start
        while pos < end:
            if pos < len(head):
                piece = head[pos : min(end, len(head))]
            elif pos >= tail_start:
                piece = tail[pos - tail_start : end - tail_start]
            else:
                offset = (pos - len(head)) % len(block)
                piece = block[offset : offset + min(end, tail_start) - pos]
            out += piece
            pos += len(piece)
        return bytes(out)

    def chunks(self, chunk_size: int = 65536) -> Iterator[bytes]:
        for start in range(0, self._size, chunk_size):
            yield self._byte_range(start, min(self._size, start + chunk_size))


class PathBlob:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def chunks(self, chunk_size: int = 65536) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            while piece := handle.read(chunk_size):
                yield piece
