"""Images that are small on disk and huge once decoded, built without decoding them."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(width: int = 13000, height: int = 13000, *, rgb: bool = False) -> bytes:
    """A valid PNG of width x height white pixels (greyscale, or RGB like a scan): a few
    hundred KB on disk, 1 or 3 bytes per pixel once decoded (169 or 507 MB for the
    default size, which Pillow's own limit only warns about)."""
    packer = zlib.compressobj(6)
    row = b"\x00" + b"\xff" * (width * (3 if rgb else 1))  # filter "none", then the pixels
    parts = [packer.compress(row) for _ in range(height)]
    parts.append(packer.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )
