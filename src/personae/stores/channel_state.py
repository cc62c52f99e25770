"""What channels report besides messages: media records, reactions, echoes, deletions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from personae.stores.ratings import rate_from_reaction
from personae.stores.runner import atomic
from personae.stores.tables import attachments, channel_events, messages, utcnow
from personae.types import MediaRecord

__all__ = ["MediaRecord", "add_attachment", "message_attachments"]


def add_attachment(conn: Connection, record: MediaRecord) -> bool:
    """Record an attachment once per (message, position); False when it was already."""
    values: dict[str, Any] = {
        "message_id": record.message_id, "position": record.position, "kind": record.kind,
        "mime_type": record.mime_type, "size": record.size, "sha256": record.sha256,
        "path": record.path, "original_ref": record.original_ref, "status": record.status,
        "error": record.error, "transcript": record.transcript, "created_at": utcnow(),
    }  # fmt: skip
    try:
        with atomic(conn):
            conn.execute(insert(attachments).values(**values))
    except IntegrityError:  # unique per (message, position): recorded already
        return False
    return True


def message_attachments(conn: Connection, message_id: int) -> list[MediaRecord]:
    rows = conn.execute(
        select(attachments)
        .where(attachments.c.message_id == message_id)
        .order_by(attachments.c.position)
    ).all()
    fields = ("mime_type", "size", "sha256", "path", "error", "transcript")
    return [
        MediaRecord(
            r.message_id,
            r.position,
            r.kind,
            r.original_ref,
            r.status,
            **{name: getattr(r, name) for name in fields},
        )
        for r in rows
    ]


def record_heard(
    conn: Connection, message_id: int, position: int, transcript: str, content: str
) -> None:
    """Keep what was heard in an audio attachment and make it the person's message text, in
    one transaction: the turn reads the text, the record keeps both (hash and transcript)."""
    with atomic(conn):
        conn.execute(
            update(attachments)
            .where(attachments.c.message_id == message_id, attachments.c.position == position)
            .values(transcript=transcript)
        )
        conn.execute(update(messages).where(messages.c.id == message_id).values(content=content))


def add_channel_event(
    conn: Connection,
    kind: str,
    channel: str,
    platform_message_id: str,
    peer_id: str,
    data: dict[str, str],
    at: datetime,
) -> None:
    with atomic(conn):
        conn.execute(
            insert(channel_events).values(
                kind=kind, channel=channel, platform_message_id=platform_message_id,
                peer_id=peer_id, data=json.dumps(data), at=at, created_at=utcnow(),
            )
        )  # fmt: skip
        if kind == "reaction":  # a reaction to one of our replies counts as its rating
            rate_from_reaction(conn, channel, platform_message_id, data.get("emoji", ""), at)


def mark_deleted(conn: Connection, channel: str, external_ids: Sequence[str], at: datetime) -> int:
    """Mark the person's messages with these platform ids on ``channel`` deleted; how many."""
    with atomic(conn):
        result = conn.execute(
            update(messages)
            .where(
                messages.c.channel == channel,
                messages.c.external_id.in_(list(external_ids)),
                messages.c.role == "user",
                messages.c.deleted_at.is_(None),
            )
            .values(deleted_at=at)
        )
    return int(result.rowcount or 0)
