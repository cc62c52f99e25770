"""Ratings of replies: thumbs up/down from the web chat, and channel reactions read as one.

A rating belongs to a reply (an assistant message); the latest rating of a reply replaces
the earlier one, and a removed reaction removes the rating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from personae.stores.runner import atomic
from personae.stores.tables import conversations, messages, outbox, ratings, turns, utcnow

EXCERPT_CHARS = 240  # enough of the reply to recognise it in a list


@dataclass(frozen=True, slots=True)
class RatedReply:
    """One rated reply, for the creator's list: where it is and how it was rated."""

    message_id: int
    conversation_id: str
    persona: str
    value: int
    source: str
    rated_at: datetime
    reply_excerpt: str
    turn_id: int | None
    turn_status: str | None


# Reactions that read as a thumbs up or down; any other emoji is no rating.
UP = frozenset(
    {"👍", "❤️", "❤", "😍", "🥰", "😊", "😀", "😃", "😄", "😁", "😂", "🤣"}
    | {"🙏", "👏", "🔥", "💯", "⭐", "🌟", "✅", "💖", "💕", "🙌", "👌"}
)
DOWN = frozenset(["👎", "😡", "😠", "😞", "😢", "😕", "🙁", "☹️", "💩", "❌", "🤬"])


def reaction_value(emoji: str) -> int | None:
    """+1, -1, or None for an emoji that says neither; skin tones do not matter."""
    base = "".join(c for c in emoji if not 0x1F3FB <= ord(c) <= 0x1F3FF)
    if base in UP:
        return 1
    if base in DOWN:
        return -1
    return None


def rate_web_reply(
    conn: Connection, message_id: int, person_id: str, channel: str, value: int
) -> bool:
    """The web person's rating of a reply in their own conversation (0 removes it); False
    when no such reply is theirs."""
    with atomic(conn):
        row = conn.execute(
            select(messages.c.conversation_id, conversations.c.persona_slug)
            .join_from(messages, conversations, conversations.c.id == messages.c.conversation_id)
            .where(
                messages.c.id == message_id,
                messages.c.role == "assistant",
                conversations.c.person_id == person_id,
                conversations.c.channel == channel,
            )
        ).first()
        if row is None:
            return False
        _set(conn, message_id, row.conversation_id, row.persona_slug, value, channel, utcnow())
    return True


def rate_from_reaction(
    conn: Connection, channel: str, platform_message_id: str, emoji: str, at: datetime
) -> None:
    """Inside the caller's transaction: a reaction to one of our replies on ``channel``."""
    value = reaction_value(emoji) if emoji else 0
    if value is None:
        return
    row = conn.execute(
        select(outbox.c.message_id, outbox.c.conversation_id, conversations.c.persona_slug)
        .join_from(outbox, conversations, conversations.c.id == outbox.c.conversation_id)
        .where(
            outbox.c.platform_message_id == platform_message_id, conversations.c.channel == channel
        )
        .limit(1)
    ).first()
    if row is not None:
        _set(conn, row.message_id, row.conversation_id, row.persona_slug, value, channel, at)


def _set(
    conn: Connection,
    message_id: int,
    conversation_id: str,
    persona: str,
    value: int,
    source: str,
    at: datetime,
) -> None:
    if value == 0:
        conn.execute(delete(ratings).where(ratings.c.message_id == message_id))
        return
    changed = conn.execute(
        update(ratings)
        .where(ratings.c.message_id == message_id)
        .values(value=value, source=source, created_at=at)
    )
    if changed.rowcount == 0:
        conn.execute(
            insert(ratings).values(
                message_id=message_id, conversation_id=conversation_id, persona_slug=persona,
                value=value, source=source, created_at=at,
            )
        )  # fmt: skip


def rated_replies(
    conn: Connection,
    personas: Sequence[str],
    value: int | None,
    start: datetime,
    end: datetime,
    limit: int,
    offset: int,
    conversation: str | None = None,
) -> tuple[list[RatedReply], int]:
    """Ratings of these personas' replies made in [start, end), newest first, and how many
    there are in all; ``value`` keeps only thumbs up (1) or down (-1), ``conversation`` one
    conversation's."""
    where = [
        ratings.c.persona_slug.in_(personas),
        ratings.c.created_at >= start,
        ratings.c.created_at < end,
    ]
    if value is not None:
        where.append(ratings.c.value == value)
    if conversation is not None:
        where.append(ratings.c.conversation_id == conversation)
    total = conn.execute(select(func.count()).select_from(ratings).where(*where)).scalar_one()
    query = (
        select(
            ratings, func.substr(messages.c.content, 1, EXCERPT_CHARS).label("excerpt"),
            turns.c.id.label("turn_id"), turns.c.status.label("turn_status"),
        )
        .join_from(ratings, messages, messages.c.id == ratings.c.message_id)
        .outerjoin(turns, turns.c.reply_message_id == ratings.c.message_id)
        .where(*where)
        .order_by(ratings.c.created_at.desc(), ratings.c.message_id.desc())
        .limit(limit)
        .offset(offset)
    )  # fmt: skip
    found = [
        RatedReply(
            message_id=row.message_id, conversation_id=row.conversation_id,
            persona=row.persona_slug, value=row.value, source=row.source,
            rated_at=row.created_at, reply_excerpt=row.excerpt, turn_id=row.turn_id,
            turn_status=row.turn_status,
        )
        for row in conn.execute(query)
    ]  # fmt: skip
    return found, int(total)
