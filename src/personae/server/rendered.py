"""What the web chat renders for a reply (its video, its spoken audio) is made once and kept
as the reply's attachment in the media store: played again without rendering again, and
deleted with the person's data like every other file of theirs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from personae.errors import NotFound
from personae.types import MediaKind, MediaRecord

if TYPE_CHECKING:
    from personae.runtime import Runtime

RENDERED = "rendered"  # the attachment's original_ref: made by the server, not sent by anyone


async def kept_rendered(runtime: Runtime, message_id: int, kind: MediaKind) -> bytes | None:
    """The reply's ``kind`` rendered before, or None."""
    for record in await runtime.store.message_attachments(message_id):
        if record.kind == kind and record.original_ref == RENDERED and record.status == "ok":
            try:
                return await runtime.media.read(record.sha256 or "")
            except NotFound:
                return None  # the file went (data deleted): render it again
    return None


async def keep_rendered(
    runtime: Runtime, message_id: int, data: bytes, kind: MediaKind, mime_type: str
) -> None:
    """Store ``data`` as the reply's attachment; raises MediaRefused over the kind's limit."""
    stored = await runtime.media.put(data, kind, mime_type)
    position = len(await runtime.store.message_attachments(message_id))
    record = MediaRecord(
        message_id, position, kind, RENDERED, "ok", stored.mime_type, stored.size,
        stored.sha256, runtime.media.location(stored.sha256),
    )  # fmt: skip
    await runtime.store.add_attachment(record)
