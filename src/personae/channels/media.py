"""A person's media, fetched after accept and kept by content hash under the data folder.

The webhook never waits for a download: ``fetch_all`` runs as a task after the 200. Each file
is written once as ``media/<sha256>`` (folder 0700, file 0600) and recorded on its message;
a refused type or size, or a platform failure, is recorded with its reason instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from personae.contracts import Channel, MediaFile
from personae.private import private_dir
from personae.stores.channel_state import MediaRecord
from personae.types import Attachment

log = logging.getLogger("personae.channels")
RETRY_DELAYS_S = (0.5, 2.0)  # a retryable download is tried again after these


class AttachmentLog(Protocol):
    async def add_attachment(self, record: MediaRecord) -> bool: ...


class MediaSink:
    """Files by content hash: the same photo sent twice is stored once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, data: bytes) -> tuple[str, Path]:
        digest = hashlib.sha256(data).hexdigest()
        private_dir(self.folder)
        path = self.folder / digest
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return digest, path  # same hash, same bytes
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return digest, path


async def fetch_all(
    channel: Channel,
    store: AttachmentLog,
    sink: MediaSink,
    message_id: int,
    attachments: Sequence[Attachment],
) -> list[MediaRecord]:
    """Fetch and record each attachment in order; the records, as stored."""
    records: list[MediaRecord] = []
    for position, attachment in enumerate(attachments):
        media = await _fetch(channel, attachment)
        record = MediaRecord(
            message_id, position, attachment.kind, attachment.ref, "failed",
            media.mime_type or attachment.mime_type, error=media.error,
        )  # fmt: skip
        if media.outcome == "ok":
            digest, path = await asyncio.to_thread(sink.put, media.data)
            record = MediaRecord(
                message_id, position, attachment.kind, attachment.ref, "ok",
                media.mime_type or attachment.mime_type, len(media.data), digest, str(path),
            )  # fmt: skip
        elif media.outcome == "refused":
            record = MediaRecord(
                message_id, position, attachment.kind, attachment.ref, "refused",
                media.mime_type or attachment.mime_type, attachment.size, error=media.error,
            )  # fmt: skip
        await store.add_attachment(record)
        records.append(record)
    return records


async def _fetch(channel: Channel, attachment: Attachment) -> MediaFile:
    media = await channel.fetch_media(attachment)
    for delay in RETRY_DELAYS_S:
        if media.outcome != "retryable":
            break
        await asyncio.sleep(delay)
        media = await channel.fetch_media(attachment)
    if media.outcome != "ok":
        log.info("media %s not stored: %s %s", attachment.ref[:80], media.outcome, media.error)
    return media
