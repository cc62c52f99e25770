"""Recall's reads of memory rows: the owner's recallable rows as a VectorSet, their vectors
(the dense index) with their words' postings (the full-text index, stores/postings.py), read
whole once and then brought up to date with what changed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, and_, func, select

from personae.stores import postings
from personae.stores.memory_rows import choices, recallable
from personae.stores.tables import memories
from personae.stores.vectors import VectorChanges, VectorSet, sign_bits

FTS_WINDOW = 400  # best full-text matches read before the owner filter (see lexical)


def vector_set(conn: Connection, person_id: str, persona: str, share: bool) -> VectorSet:
    version = choices(conn, person_id, persona).version
    owned = _owned(conn, person_id, persona, None)  # before the rows: see vector_changes
    found = _read_set(conn, version, recallable(persona, person_id, share), {}, "")
    return replace(found, owned=owned)


def _owned(conn: Connection, person_id: str, persona: str, last: int | None) -> int:
    """The person's rows with this persona and the persona's own, retired ones too (up to
    id ``last``), counted from two indexes without reading a row."""
    mine = [memories.c.person_id == person_id, memories.c.persona_slug == persona]
    its = [memories.c.persona_slug == persona, memories.c.scope == "persona"]
    if last is not None:
        mine.append(memories.c.id <= last)
        its.append(memories.c.id <= last)
    person_rows = select(func.count()).select_from(memories).where(*mine).scalar_subquery()
    persona_rows = select(func.count()).select_from(memories).where(*its).scalar_subquery()
    return int(conn.execute(select(person_rows + persona_rows)).scalar_one())


def vector_changes(
    conn: Connection, person_id: str, persona: str, share: bool, known: VectorSet
) -> VectorChanges:
    """What changed since ``known`` (this owner's set, ids ascending) was read: the rows
    added after its last id, and, when some of its rows were retired or deleted since, the
    ids of those still recallable. Rows are only ever added, retired (by a fact or summary
    stored after them) or deleted; a row that appears below the last id (on PostgreSQL a
    transaction may commit after a later id's) makes it the whole set read again.

    The usual turn adds episodes only: then two index counts say whether any row was
    deleted, without reading the owner's rows (their ``owned`` count is taken before the
    rows are read, so a write in between only makes the next check take the long way)."""
    version = choices(conn, person_id, persona).version
    owned = _owned(conn, person_id, persona, None)
    where = recallable(persona, person_id, share)
    last = int(known.ids[-1]) if len(known.ids) else 0
    names = {name: code for code, name in enumerate(known.speakers)}
    context = known.postings.context if known.postings is not None else ""
    after = and_(where, memories.c.id > last)
    retiring = conn.execute(
        select(func.count()).where(after, memories.c.kind.in_(["fact", "summary"]))
    ).scalar_one()
    quick = not share and not retiring and known.owned >= 0
    if quick and _owned(conn, person_id, persona, last) == known.owned:
        added = _read_set(conn, version, after, names, context)
        return VectorChanges(version, replace(added, owned=owned), None)
    before = and_(where, memories.c.id <= last)
    count, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(memories.c.id), 0)).where(before)
    ).one()
    kept = None
    if (count, int(total)) != (len(known.ids), int(known.ids.sum())):
        found = conn.execute(select(memories.c.id).where(before).order_by(memories.c.id))
        kept = np.fromiter(found.scalars(), dtype=np.int64)
        if len(np.setdiff1d(kept, known.ids, assume_unique=True)):
            whole = replace(_read_set(conn, version, where, {}, ""), owned=owned)
            return VectorChanges(version, whole, None, whole=True)
    added = _read_set(conn, version, after, names, context)
    return VectorChanges(version, replace(added, owned=owned), kept)


def _read_set(
    conn: Connection,
    version: int,
    where: ColumnElement[bool],
    names: dict[str, int],
    context: str,
) -> VectorSet:
    """The rows ``where`` picks as a VectorSet, with their full-text postings; speakers
    coded through ``names`` (extended with those first seen here); ``context``: the
    remembered message before the first of these rows."""
    query = select(
        memories.c.id,
        memories.c.embedding,
        memories.c.importance,
        memories.c.said_at,
        memories.c.kind,
        memories.c.text,
    ).where(where)
    rows = conn.execute(query.order_by(memories.c.id)).all()
    dim = len(rows[0].embedding) // 4 if rows else 0
    vectors = np.frombuffer(b"".join(r.embedding for r in rows), dtype=np.float32)
    vectors = vectors.reshape(len(rows), dim)
    speaker = np.fromiter(
        (_speaker(r.kind, r.text[: SPEAKER_CHARS + 2], names) for r in rows),
        dtype=np.int32,
        count=len(rows),
    )
    ids, docs, context = postings.documents(((r.id, r.kind, r.text) for r in rows), context)
    return VectorSet(
        version,
        np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows)),
        vectors,
        np.fromiter((r.importance for r in rows), dtype=np.float32, count=len(rows)),
        np.fromiter((_ts(r.said_at) for r in rows), dtype=np.float64, count=len(rows)),
        np.ascontiguousarray(sign_bits(vectors).T),
        speaker,
        tuple(names),
        postings=postings.build(ids, docs, context),
    )


SPEAKER_CHARS = 40  # an episode reads "<speaker>: <text>"; longer "names" are no speaker


def _speaker(kind: str, opening: str, names: dict[str, int]) -> int:
    if kind != "episode":
        return -1
    name, colon, _ = opening.partition(": ")
    if not colon or len(name) > SPEAKER_CHARS:
        return -1
    return names.setdefault(name.lower(), len(names))


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()
