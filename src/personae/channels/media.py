"""A person's media, fetched after accept and kept in the media store by content hash.

The webhook never waits for a download: ``fetch_all`` runs as a task after the 200. Each file
goes through the media store (sniffed, within the limits of its kind, written whole or not at
all) and is recorded on its message; a refused type or size, a file that is not what it
claims, or a platform failure is recorded with its reason instead. The turn waits for these
records (TurnSpec.pending_media), so it never answers before the photo is there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence

from personae.contracts import AttachmentLog, Channel, MediaFile, MediaStore
from personae.errors import MediaRefused
from personae.types import Attachment, MediaRecord

log = logging.getLogger("personae.channels")
RETRY_DELAYS_S = (0.5, 2.0)  # a retryable download is tried again after these


async def fetch_all(
    channel: Channel,
    store: AttachmentLog,
    media_store: MediaStore,
    message_id: int,
    attachments: Sequence[Attachment],
    recorded: Collection[int] = (),
) -> list[MediaRecord]:
    """Fetch and record each attachment in order, but those at positions ``recorded``
    already; the records, as stored."""
    records: list[MediaRecord] = []
    for position, attachment in enumerate(attachments):
        if position in recorded:
            continue
        try:
            record = await _fetch_one(channel, media_store, message_id, position, attachment)
        except Exception as exc:  # recorded, so the waiting turn goes on without it
            log.warning("media %s not stored", attachment.ref[:80], exc_info=True)
            record = MediaRecord(
                message_id, position, attachment.kind, attachment.ref, "failed",
                attachment.mime_type, error=f"{type(exc).__name__}: {exc}",
            )  # fmt: skip
        await store.add_attachment(record)
        records.append(record)
    return records


async def _fetch_one(
    channel: Channel,
    media_store: MediaStore,
    message_id: int,
    position: int,
    attachment: Attachment,
) -> MediaRecord:
    media = await _fetch(channel, attachment)
    mime = media.mime_type or attachment.mime_type
    if media.outcome == "refused":
        return MediaRecord(
            message_id, position, attachment.kind, attachment.ref, "refused", mime,
            attachment.size, error=media.error,
        )  # fmt: skip
    if media.outcome != "ok":
        return MediaRecord(
            message_id, position, attachment.kind, attachment.ref, "failed", mime,
            error=media.error,
        )  # fmt: skip
    try:
        stored = await media_store.put(media.data, attachment.kind, mime)
    except MediaRefused as refused:
        log.info("media %s refused: %s", attachment.ref[:80], refused)
        return MediaRecord(
            message_id, position, attachment.kind, attachment.ref, "refused", mime,
            len(media.data), error=str(refused),
        )  # fmt: skip
    return MediaRecord(
        message_id, position, stored.kind, attachment.ref, "ok", stored.mime_type,
        stored.size, stored.sha256, media_store.location(stored.sha256),
    )  # fmt: skip


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
