"""Small hostile files for tests (a uniquely named module: `from hostile_files import ...` in tests/video): a PNG that
declares 20000 x 20000 pixels in a few hundred bytes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_bomb(path: str | Path, side: int = 20000) -> Path:
    """A valid PNG header of `side` x `side` RGB pixels (400 M for 20000: above Pillow's decompression-bomb error
    limit, twice `PIL.Image.MAX_IMAGE_PIXELS`), with almost no pixel data. Returns the path."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
    data += _chunk(b"IEND", b"")
    Path(path).write_bytes(data)
    return Path(path)
