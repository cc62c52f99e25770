"""Writing memory rows: storing a turn's memories (with supersession), forgetting and
correcting them. The FTS5 table is written and deleted in the same transaction as its row,
so a forgotten memory leaves no copy behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from personae.stores.memory_rows import owner, touch
from personae.stores.runner import atomic
from personae.stores.tables import memories, utcnow
from personae.stores.tables import messages as messages_table
from personae.types.memory import NewMemory

WORD = re.compile(r"[a-z0-9]+")


def add(
    conn: Connection,
    persona: str,
    person_id: str | None,
    message_id: int | None,
    said_at: datetime,
    items: Sequence[tuple[NewMemory, bytes]],
) -> list[int]:
    """Store memories of one message (see add_groups)."""
    return add_groups(conn, persona, person_id, said_at, [(message_id, items)])[0]


def add_groups(
    conn: Connection,
    persona: str,
    person_id: str | None,
    said_at: datetime,
    groups: Sequence[tuple[int | None, Sequence[tuple[NewMemory, bytes]]]],
) -> list[list[int]]:
    """Store the memories of several messages, each group (message id, items), in one
    transaction; a fact in a slot (``key``) retires the owner's active fact in that slot
    (kept, marked superseded), and one that repeats it word for word is not stored twice.
    Returns the new ids of each group. Memories without a slot are inserted together (one
    executemany), in the order given: ids follow it, and recall takes a memory's id
    neighbours as the messages around it."""
    ids: list[list[int]] = [[] for _ in groups]
    now = utcnow()
    pending: list[tuple[int, dict[str, Any]]] = []  # (group, row)
    with atomic(conn):
        for group, (message_id, items) in enumerate(groups):
            for item, vector in items:
                row = _row(persona, person_id, message_id, said_at, item, vector, now)
                if item.kind in ("fact", "summary") and item.key:
                    _insert_pending(conn, pending, ids)
                    new_id = _add_in_slot(conn, persona, person_id, item, row, now)
                    if new_id is not None:
                        ids[group].append(new_id)
                else:
                    pending.append((group, row))
        _insert_pending(conn, pending, ids)
        if person_id is not None:
            touch(conn, person_id, persona)
    return ids


_INSERT = insert(memories).returning(memories.c.id, sort_by_parameter_order=True)


def _row(
    persona: str,
    person_id: str | None,
    message_id: int | None,
    said_at: datetime,
    item: NewMemory,
    vector: bytes,
    now: datetime,
) -> dict[str, Any]:
    return {
        "persona_slug": persona,
        "person_id": person_id if item.scope == "person" else None,
        "scope": item.scope,
        "kind": item.kind,
        "text": item.text,
        "key": item.key,
        "importance": item.importance,
        "message_id": message_id,
        "said_at": said_at,
        "refers_to": item.refers_to,
        "embedding": vector,
        "created_at": now,
    }


def _insert_pending(
    conn: Connection, pending: list[tuple[int, dict[str, Any]]], ids: list[list[int]]
) -> None:
    """Insert the rows waiting in ``pending`` (then empty it), their ids added to ``ids``."""
    if not pending:
        return
    new_ids = [int(i) for i in conn.execute(_INSERT, [row for _, row in pending]).scalars()]
    for new_id, (group, _) in zip(new_ids, pending, strict=True):
        ids[group].append(new_id)
    pending.clear()


def _add_in_slot(
    conn: Connection,
    persona: str,
    person_id: str | None,
    item: NewMemory,
    row: dict[str, Any],
    now: datetime,
) -> int | None:
    """Store a fact that fills a slot: it retires the owner's active fact there, unless it
    repeats it (then nothing is stored)."""
    mine = owner(persona, person_id if item.scope == "person" else None)
    older: list[Row[Any]] = list(
        conn.execute(
            select(memories.c.id, memories.c.text).where(
                mine, memories.c.key == item.key, memories.c.retired_at.is_(None)
            )
        )
    )
    if any(_same(old.text, item.text) for old in older):
        return None
    new_id = _insert(conn, row)
    if older:
        conn.execute(
            update(memories)
            .where(memories.c.id.in_([old.id for old in older]))
            .values(retired_at=now, superseded_by=new_id)
        )
    return new_id


def _insert(conn: Connection, row: dict[str, Any]) -> int:
    return int(conn.execute(_INSERT, row).scalar_one())


def _same(a: str, b: str) -> bool:
    return WORD.findall(a.lower()) == WORD.findall(b.lower())


def delete_memories(conn: Connection, ids: Sequence[int]) -> int:
    """Delete these memories (inside the caller's transaction)."""
    if not ids:
        return 0
    return conn.execute(delete(memories).where(memories.c.id.in_(list(ids)))).rowcount


def forget(conn: Connection, person_id: str, persona: str, memory_id: int) -> bool:
    """Delete a fact of this person, the facts it superseded, and the raw message it came
    from (kept as an episode): nothing recallable of it is left."""
    with atomic(conn):
        mine = owner(persona, person_id)
        row = conn.execute(
            select(memories.c.id, memories.c.message_id).where(mine, memories.c.id == memory_id)
        ).first()
        if row is None:
            return False
        doomed = {row.id}
        frontier = [row.id]
        while frontier:  # the chain of facts this one superseded
            found = conn.execute(
                select(memories.c.id).where(mine, memories.c.superseded_by.in_(frontier))
            ).scalars()
            frontier = [i for i in found if i not in doomed]
            doomed.update(frontier)
        found_messages = conn.execute(
            select(memories.c.message_id).where(memories.c.id.in_(doomed))
        ).scalars()
        sources = [m for m in found_messages if m is not None]
        if sources:  # the persona's replies to those messages repeat what was said
            replies = conn.execute(
                select(messages_table.c.id).where(messages_table.c.reply_to.in_(sources))
            ).scalars()
            sources += list(replies)
            episodes = conn.execute(
                select(memories.c.id).where(
                    mine, memories.c.kind == "episode", memories.c.message_id.in_(sources)
                )
            ).scalars()
            doomed.update(episodes)
        delete_memories(conn, sorted(doomed))
        touch(conn, person_id, persona)
        return True


def forget_all(conn: Connection, person_id: str, persona: str) -> int:
    with atomic(conn):
        ids = list(conn.execute(select(memories.c.id).where(owner(persona, person_id))).scalars())
        count = delete_memories(conn, ids)
        touch(conn, person_id, persona)
        return count


def correct(
    conn: Connection,
    person_id: str,
    persona: str,
    memory_id: int,
    new_text: str,
    vector: bytes,
) -> int | None:
    """Replace a fact with the person's wording: the new one supersedes it (history kept)."""
    with atomic(conn):
        mine = owner(persona, person_id)
        old = conn.execute(
            select(memories).where(mine, memories.c.id == memory_id, memories.c.kind == "fact")
        ).first()
        if old is None or old.retired_at is not None:
            return None
        now = utcnow()
        item = NewMemory("fact", new_text, old.key, max(old.importance, 0.8))
        row = _row(persona, person_id, old.message_id, now, item, vector, now)
        new_id = _insert(conn, row)
        conn.execute(
            update(memories)
            .where(memories.c.id == memory_id)
            .values(retired_at=now, superseded_by=new_id)
        )
        touch(conn, person_id, persona)
        return new_id
