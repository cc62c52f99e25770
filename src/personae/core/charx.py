"""CHARX: a zip with ``card.json`` at its root and the card's files under ``assets/``.

Read defensively: sizes are counted as the bytes come out (headers can lie), with caps on the
archive, on what it unpacks to, on the number of files and on each file's compression ratio (a
zip bomb stops early); names that climb out of the archive (``..``, absolute, drive or
backslash paths) are refused, as are encrypted entries."""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

from personae.errors import CardInvalid

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
MAX_UNPACKED_BYTES = 128 * 1024 * 1024
MAX_FILES = 1000
MAX_RATIO = 200  # unpacked / packed, for files beyond 1 MiB
CARD_FILE = "card.json"


@dataclass(frozen=True, slots=True)
class Charx:
    card: bytes  # card.json as stored
    files: tuple[tuple[str, bytes], ...]  # every other file, by path


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def read_charx(data: bytes) -> Charx:
    if len(data) > MAX_ARCHIVE_BYTES:
        raise CardInvalid(f"the CHARX file is {len(data)} bytes; at most {MAX_ARCHIVE_BYTES}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise CardInvalid(f"not a readable CHARX (zip) file: {err}") from None
    if len(infos) > MAX_FILES:
        raise CardInvalid(f"the CHARX holds {len(infos)} files; at most {MAX_FILES}")
    card: bytes | None = None
    files: list[tuple[str, bytes]] = []
    budget = MAX_UNPACKED_BYTES
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        _check_name(name)
        if info.flag_bits & 0x1:
            raise CardInvalid(f"CHARX entry {name!r} is encrypted; export it without a password")
        body = _read_capped(archive, info, budget)
        budget -= len(body)
        if name == CARD_FILE:
            card = body
        else:
            files.append((name, body))
    if card is None:
        raise CardInvalid(f"the CHARX has no {CARD_FILE} at its root; it is not a character card")
    return Charx(card, tuple(files))


def _check_name(name: str) -> None:
    parts = name.split("/")
    if (
        name.startswith("/")
        or "\\" in name
        or "\0" in name
        or (len(name) > 1 and name[1] == ":")
        or any(part in ("..", ".") for part in parts)
        or len(name) > 512
    ):
        raise CardInvalid(
            f"CHARX entry name {name!r} is not a plain relative path (absolute, '..', a drive "
            "or a backslash): refused, nothing was written"
        )


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    ratio_floor = 1024 * 1024
    out = bytearray()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(64 * 1024):
                out += chunk
                if len(out) > budget:
                    raise CardInvalid(
                        f"the CHARX unpacks to more than {MAX_UNPACKED_BYTES} bytes "
                        f"(at {info.filename!r}); refused as a possible zip bomb"
                    )
                if len(out) > ratio_floor and len(out) > MAX_RATIO * max(info.compress_size, 1):
                    raise CardInvalid(
                        f"CHARX entry {info.filename!r} expands over {MAX_RATIO} times its "
                        "packed size; refused as a possible zip bomb"
                    )
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
    ) as err:
        raise CardInvalid(f"CHARX entry {info.filename!r} cannot be unpacked: {err}") from None
    return bytes(out)


def write_charx(card: bytes, files: tuple[tuple[str, bytes], ...]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CARD_FILE, card)
        for name, body in files:
            archive.writestr(name, body)
    return buffer.getvalue()
