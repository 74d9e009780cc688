"""Real PNG pictures for the tests (a browser decodes them; the server checks their signature)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable


def png(
    width: int = 2, height: int = 2, pixel: Callable[[int, int], bytes] = lambda x, y: b"\x80\x80\x80"
) -> bytes:
    """An RGB PNG of `pixel(x, y)` colours (grey by default)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def photo(width: int = 240, height: int = 160) -> bytes:
    """A picture big enough to look like a photo in the screenshots (a colour gradient)."""
    return png(width, height, lambda x, y: bytes((40 + x * 200 // width, 90 + y * 120 // height, 200)))
