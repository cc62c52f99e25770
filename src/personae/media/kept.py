"""Renders kept for reuse: a reply's video or spoken audio is made once, stored in the media
store, and recorded as an attachment of the reply it belongs to. The attachment names what
made it (``rendered:<key>``, the key a hash of every input of the render), so a retried send,
a second delivery or the web chat's player finds it, and a changed avatar, voice or format
renders anew. Kept renders go with the person's data, like every attachment of theirs."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from personae.contracts import AttachmentLog, MediaStore
from personae.errors import MediaRefused, NotFound
from personae.types import MediaKind, MediaRecord

log = logging.getLogger(__name__)
PREFIX = "rendered:"


def render_key(**inputs: Any) -> str:
    """The name of a render: a hash of everything that changes its bytes (JSON values)."""
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class KeptRenders:
    """Renders of replies, in the media store, found by (reply, key)."""

    def __init__(self, media: MediaStore, attachments: AttachmentLog) -> None:
        self._media = media
        self._attachments = attachments

    async def find(self, reply_id: int, key: str) -> bytes | None:
        """The render kept for this reply under ``key``, or None."""
        for record in await self._attachments.message_attachments(reply_id):
            if record.original_ref == PREFIX + key and record.status == "ok" and record.sha256:
                try:
                    return await self._media.read(record.sha256)
                except NotFound:
                    return None  # the file went (data deleted): render it again
        return None

    async def keep(
        self, reply_id: int, key: str, data: bytes, kind: MediaKind, mime_type: str
    ) -> None:
        """Store ``data`` as the reply's render; one over the kind's size limit is not kept."""
        try:
            stored = await self._media.put(data, kind, mime_type)
        except MediaRefused as refused:
            log.info("%s of reply %d not kept: %s", kind, reply_id, refused)
            return
        position = len(await self._attachments.message_attachments(reply_id))
        record = MediaRecord(
            reply_id, position, kind, PREFIX + key, "ok", stored.mime_type, stored.size,
            stored.sha256, self._media.location(stored.sha256),
        )  # fmt: skip
        await self._attachments.add_attachment(record)  # False: a concurrent one kept it
