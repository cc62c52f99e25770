"""What the studio's persona list shows beside each persona: last activity and channels."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import Connection, func, select

from personae.stores.tables import channel_connections, conversations


def persona_activity(conn: Connection) -> dict[str, tuple[datetime | None, tuple[str, ...]]]:
    """slug -> (last conversation update, channel kinds it is bound to or has talked on).
    One grouped read over the (persona_slug, updated_at) index, not a query per persona."""
    last = dict(
        conn.execute(
            select(conversations.c.persona_slug, func.max(conversations.c.updated_at)).group_by(
                conversations.c.persona_slug
            )
        ).all()
    )
    kinds: dict[str, set[str]] = defaultdict(set)
    for slug, kind in conn.execute(
        select(channel_connections.c.persona_slug, channel_connections.c.kind)
    ):
        kinds[slug].add(kind)
    for slug, channel in conn.execute(
        select(conversations.c.persona_slug, conversations.c.channel)
        .where(~conversations.c.channel.like("api:%"), ~conversations.c.channel.like("openai:%"))
        .distinct()
    ):
        kinds[slug].add(channel.partition(":")[0])
    slugs = set(last) | set(kinds)
    return {s: (last.get(s), tuple(sorted(kinds.get(s, ())))) for s in slugs}
