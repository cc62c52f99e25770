"""PNG chunks, read and written by hand: a Character Card lives in tEXt chunks (keyword
``chara``: base64 of the V2 JSON; ``ccv3``: of the V3 JSON). Every chunk's length and CRC is
checked, so a truncated or damaged file is refused with where it breaks."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from personae.errors import CardInvalid

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_KEYWORDS = ("ccv3", "chara")  # read in this order: ccv3 is preferred


@dataclass(frozen=True, slots=True)
class Chunk:
    kind: bytes
    data: bytes


def read_chunks(data: bytes) -> list[Chunk]:
    if not data.startswith(SIGNATURE):
        raise CardInvalid("not a PNG file (its first 8 bytes are not the PNG signature)")
    chunks: list[Chunk] = []
    at = len(SIGNATURE)
    while True:
        if at + 8 > len(data):
            raise CardInvalid(
                f"the PNG is truncated at byte {at}: it ends before its IEND chunk; "
                "export the card again from its source"
            )
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise CardInvalid(
                f"the PNG is truncated: chunk {kind!r} at byte {at} claims {length} bytes but "
                f"only {max(len(data) - at - 12, 0)} remain; export the card again"
            )
        body = data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : end])
        if zlib.crc32(kind + body) != crc:
            raise CardInvalid(f"the PNG is damaged: chunk {kind!r} at byte {at} fails its CRC")
        chunks.append(Chunk(kind, body))
        at = end
        if kind == b"IEND":
            return chunks


def text_chunks(chunks: list[Chunk]) -> dict[str, bytes]:
    """tEXt chunks by lower-case keyword (the first of each keyword wins)."""
    found: dict[str, bytes] = {}
    for chunk in chunks:
        if chunk.kind == b"tEXt":
            keyword, sep, text = chunk.data.partition(b"\0")
            if sep:
                found.setdefault(keyword.decode("latin-1").lower(), text)
    return found


def chunk_bytes(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def with_text(image: bytes, texts: dict[str, bytes]) -> bytes:
    """``image`` with its card chunks replaced by ``texts`` (keyword -> base64 text), placed
    before IEND."""
    chunks = [
        c
        for c in read_chunks(image)
        if not (c.kind == b"tEXt" and c.data.partition(b"\0")[0].lower() in {b"chara", b"ccv3"})
    ]
    out = [SIGNATURE]
    for chunk in chunks:
        if chunk.kind == b"IEND":
            out.extend(
                chunk_bytes(b"tEXt", k.encode("latin-1") + b"\0" + v) for k, v in texts.items()
            )
        out.append(chunk_bytes(chunk.kind, chunk.data))
    return b"".join(out)


def without_cards(image: bytes) -> bytes:
    """The image alone: the PNG without its card chunks."""
    return with_text(image, {})


def blank_png(size: int = 64, rgb: tuple[int, int, int] = (96, 96, 112)) -> bytes:
    """A plain square picture, for a card whose persona has no PNG image."""
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    row = b"\0" + bytes(rgb) * size
    pixels = zlib.compress(row * size, 9)
    return SIGNATURE + b"".join(
        chunk_bytes(kind, body)
        for kind, body in ((b"IHDR", header), (b"IDAT", pixels), (b"IEND", b""))
    )
