"""Real image files made with Pillow for the media tests: good ones, broken ones, bombs."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png(width: int = 32, height: int = 24, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "JPEG", quality=80)
    return out.getvalue()


def pixel_bomb(side: int = 30_000) -> bytes:
    """A valid PNG header announcing side×side pixels with a tiny compressed body: decoding it
    would take gigabytes; only its header may be read."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\x00" * (1 + side // 8) * 64, 9)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body
