"""The folder media store: ``media/<sha256>`` under the data folder (folder 0700, files 0600).

A file is written to a temporary name in the same folder and renamed into place, so a reader
never sees half a file and a failure (full disk, a crash) leaves no file under a hash. Partial
files a crash left behind are swept when the store opens.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import time
from pathlib import Path

from personae.errors import NotFound
from personae.media.sniff import MediaLimits, sniff
from personae.private import private_dir
from personae.types import MediaKind, StoredMedia

_HASH = re.compile(r"[0-9a-f]{64}")
PART_SUFFIX = ".part"
STALE_PART_S = 3600.0  # a partial file this old belongs to no write in progress


def inspect(
    data: bytes, limits: MediaLimits, kind: MediaKind | None = None, declared: str | None = None
) -> StoredMedia:
    """What ``data`` would be stored as (sniffed, within limits), without storing it."""
    found = sniff(data, limits, kind, declared)
    digest = hashlib.sha256(data).hexdigest()
    return StoredMedia(digest, found.kind, found.mime_type, len(data), found.width, found.height)


class FolderMediaStore:
    """MediaStore (contracts.py) over a local folder."""

    def __init__(self, folder: Path, limits: MediaLimits) -> None:
        self.folder = folder
        self.limits = limits
        self._swept = False

    async def put(
        self, data: bytes, kind: MediaKind | None = None, declared_mime: str | None = None
    ) -> StoredMedia:
        return await asyncio.to_thread(self.put_sync, data, kind, declared_mime)

    def put_sync(
        self, data: bytes, kind: MediaKind | None = None, declared_mime: str | None = None
    ) -> StoredMedia:
        stored = inspect(data, self.limits, kind, declared_mime)  # raises before any write
        digest = stored.sha256
        self._prepare()
        path = self.folder / digest
        if path.exists():
            return stored  # same hash, same bytes
        part = self.folder / f".{digest}.{secrets.token_hex(6)}{PART_SUFFIX}"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return stored

    async def read(self, sha256: str) -> bytes:
        path = self._path(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise NotFound(f"no media file {sha256} in {self.folder}") from None

    async def delete(self, sha256: str) -> bool:
        path = self._path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def location(self, sha256: str) -> str:
        return str(self._path(sha256))

    def _path(self, sha256: str) -> Path:
        if not _HASH.fullmatch(sha256):  # a hash, never a path a caller could steer
            raise NotFound(f"{sha256[:80]!r} is not a media file's SHA-256")
        return self.folder / sha256

    def _prepare(self) -> None:
        private_dir(self.folder)
        if self._swept:
            return
        self._swept = True
        cutoff = time.time() - STALE_PART_S
        for leftover in self.folder.glob(f".*{PART_SUFFIX}"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
            except FileNotFoundError:
                pass
