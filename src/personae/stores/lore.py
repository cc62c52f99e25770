"""Lorebook timers per conversation: read before a turn's lore activation, written after.

Each operation is a sync function of a connection outside any transaction (see runner.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select

from personae.stores.runner import atomic
from personae.stores.tables import lore_timers, utcnow
from personae.types import LoreTimer


def get_lore_timers(conn: Connection, conversation_id: str) -> dict[str, LoreTimer]:
    rows = conn.execute(
        select(
            lore_timers.c.entry,
            lore_timers.c.activated_at,
            lore_timers.c.sticky_end,
            lore_timers.c.cooldown_end,
        ).where(lore_timers.c.conversation_id == conversation_id)
    ).all()
    return {row.entry: LoreTimer(*row) for row in rows}


def save_lore_timers(conn: Connection, conversation_id: str, timers: Sequence[LoreTimer]) -> None:
    """Replace the timers of these entries (portable upsert: delete, then insert)."""
    if not timers:
        return
    now = utcnow()
    with atomic(conn):
        conn.execute(
            delete(lore_timers).where(
                lore_timers.c.conversation_id == conversation_id,
                lore_timers.c.entry.in_([t.entry for t in timers]),
            )
        )
        conn.execute(
            insert(lore_timers),
            [
                {
                    "conversation_id": conversation_id,
                    "entry": t.entry,
                    "activated_at": t.activated_at,
                    "sticky_end": t.sticky_end,
                    "cooldown_end": t.cooldown_end,
                    "updated_at": now,
                }
                for t in timers
            ],
        )
