"""Memory rows: who owns them, the owner's settings, and reading them (see tables.memories).

Sync functions of a connection, run by the store's Runner through MemoryStore; writing is in
memory_write, recall's searches in memory_search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)

from personae.stores.runner import atomic
from personae.stores.tables import memories, memory_settings, utcnow
from personae.stores.tables import messages as messages_table
from personae.types.memory import Memory


@dataclass(frozen=True, slots=True)
class MemoryChoices:
    enabled: bool = True
    share: bool = False
    version: int = 0


# ---------------------------------------------------------------- owners and settings


def owner(persona: str, person_id: str | None) -> ColumnElement[bool]:
    """Rows of this owner: a person's memories with this persona, or (person None) the
    persona's own knowledge."""
    if person_id is None:
        return and_(memories.c.persona_slug == persona, memories.c.scope == "persona")
    return and_(
        memories.c.persona_slug == persona,
        memories.c.person_id == person_id,
        memories.c.scope == "person",
    )


def recallable(persona: str, person_id: str, share: bool) -> ColumnElement[bool]:
    """What a recall may see: the person's memories with this persona, the persona's
    knowledge, and (only when the person opted in) their facts told to other personas."""
    parts = [owner(persona, person_id), owner(persona, None)]
    if share:
        parts.append(
            and_(
                memories.c.person_id == person_id,
                memories.c.scope == "person",
                memories.c.kind == "fact",
            )
        )
    return and_(or_(*parts), memories.c.retired_at.is_(None))


# A recall's reads (choices, get_many) are built once: building and cache-keying a statement
# per call cost more than SQLite's own work (they run on the event loop: Runner.read_now).
_CHOICES = select(memory_settings).where(
    memory_settings.c.person_id == bindparam("person"),
    memory_settings.c.persona_slug == bindparam("persona"),
)


def choices(conn: Connection, person_id: str, persona: str) -> MemoryChoices:
    row = conn.execute(_CHOICES, {"person": person_id, "persona": persona}).first()
    return MemoryChoices(row.enabled, row.share, row.version) if row else MemoryChoices()


def touch(conn: Connection, person_id: str, persona: str, **values: Any) -> None:
    """Bump the owner's version (and set any of enabled/share), creating the row if needed."""
    now = utcnow()
    changed = conn.execute(
        update(memory_settings)
        .where(memory_settings.c.person_id == person_id, memory_settings.c.persona_slug == persona)
        .values(version=memory_settings.c.version + 1, updated_at=now, **values)
    ).rowcount
    if not changed:
        row = {"enabled": True, "share": False, **values}
        conn.execute(
            insert(memory_settings).values(
                person_id=person_id, persona_slug=persona, version=1, updated_at=now, **row
            )
        )


def set_choice(
    conn: Connection, person_id: str, persona: str, enabled: bool | None, share: bool | None
) -> MemoryChoices:
    values = {k: v for k, v in (("enabled", enabled), ("share", share)) if v is not None}
    with atomic(conn):
        touch(conn, person_id, persona, **values)
        return choices(conn, person_id, persona)


# ---------------------------------------------------------------- reading


def facts(conn: Connection, person_id: str, persona: str) -> list[Memory]:
    """The person's active facts and summaries with this persona, oldest first: what
    /memory numbers."""
    query = (
        select(*SHOWN)
        .where(
            owner(persona, person_id),
            memories.c.kind.in_(["fact", "summary"]),
            memories.c.retired_at.is_(None),
        )
        .order_by(memories.c.id)
    )
    return [to_memory(row) for row in conn.execute(query)]


def history(conn: Connection, person_id: str, persona: str) -> list[Memory]:
    """Every fact of the person with this persona, retired ones too (supersession history)."""
    query = (
        select(*SHOWN)
        .where(owner(persona, person_id), memories.c.kind == "fact")
        .order_by(memories.c.id)
    )
    return [to_memory(row) for row in conn.execute(query)]


# Every column but the vector (1.5 kB a row that listing and rendering never read).
SHOWN = [c for c in memories.c if c.name != "embedding"]


_GET_MANY = select(*SHOWN).where(memories.c.id.in_(bindparam("ids", expanding=True)))


def get_many(conn: Connection, ids: Sequence[int]) -> list[Memory]:
    if not ids:
        return []
    return [to_memory(row) for row in conn.execute(_GET_MANY, {"ids": list(ids)})]


def unsummarized(
    conn: Connection, person_id: str, persona: str, limit: int
) -> tuple[Memory | None, list[Memory]]:
    """The owner's active rolling summary (None before the first) and up to ``limit`` of the
    episodes stored after it, oldest first."""
    mine = owner(persona, person_id)
    row = conn.execute(
        select(*SHOWN)
        .where(mine, memories.c.kind == "summary", memories.c.retired_at.is_(None))
        .order_by(memories.c.id.desc())
        .limit(1)
    ).first()
    summary = to_memory(row) if row else None
    query = select(*SHOWN).where(mine, memories.c.kind == "episode")
    if summary is not None:
        query = query.where(memories.c.id > summary.id)
    rows = conn.execute(query.order_by(memories.c.id).limit(limit))
    return summary, [to_memory(r) for r in rows]


def last_episode(conn: Connection, person_id: str, persona: str) -> str | None:
    """The text of the owner's newest episode (the message before the next one)."""
    query = (
        select(memories.c.text)
        .where(owner(persona, person_id), memories.c.kind == "episode")
        .order_by(memories.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).scalar()


def message_texts(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[str, datetime]]:
    """Content and time of stored messages by id (what after-turn memory work reads)."""
    rows = conn.execute(
        select(messages_table.c.id, messages_table.c.content, messages_table.c.created_at).where(
            messages_table.c.id.in_(list(ids))
        )
    )
    return {row.id: (row.content, row.created_at) for row in rows}


def to_memory(row: Row[Any]) -> Memory:
    return Memory(
        id=row.id,
        persona_slug=row.persona_slug,
        person_id=row.person_id,
        scope=row.scope,
        kind=row.kind,
        text=row.text,
        key=row.key,
        importance=row.importance,
        message_id=row.message_id,
        said_at=row.said_at,
        refers_to=row.refers_to,
        created_at=row.created_at,
        retired_at=row.retired_at,
        superseded_by=row.superseded_by,
    )
