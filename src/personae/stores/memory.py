"""Memory rows: what a persona remembers about a person (see tables.memories).

Sync functions of a connection, run by the store's Runner through MemoryStore. Lexical search
is SQLite FTS5 (bm25) or PostgreSQL full text (ts_rank), over the same owner filter the
vectors use; the FTS5 table is written and deleted in the same transaction as its row, so a
forgotten memory leaves no copy behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from personae.stores.runner import Runner
from personae.stores.tables import memories, memory_settings, utcnow
from personae.stores.tables import messages as messages_table
from personae.types.memory import Memory, NewMemory

Vector = npt.NDArray[np.float32]
FTS_WINDOW = 400  # best full-text matches read before the owner filter (see lexical)
WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class MemoryChoices:
    enabled: bool = True
    share: bool = False
    version: int = 0


@dataclass(frozen=True, slots=True)
class VectorSet:
    """The recallable memories of one owner as arrays (the dense index of a recall)."""

    version: int
    ids: npt.NDArray[np.int64]
    vectors: Vector  # (n, dim), unit rows
    importance: npt.NDArray[np.float32]
    said_at: npt.NDArray[np.float64]  # POSIX seconds
    # The vectors' signs packed 64 to a word, one row per word (words, n): a Hamming scan
    # over these shortlists the nearest rows of a large set for an exact cosine
    # (recall.dense_ranking); word-major, so the scan adds whole contiguous columns.
    signs: npt.NDArray[np.uint64] | None = None
    # Who said each episode, as an index into ``speakers`` (lower-case names; -1: not an
    # episode), so a query that names someone can prefer their lines.
    speaker: npt.NDArray[np.int32] | None = None
    speakers: tuple[str, ...] = ()


# ---------------------------------------------------------------- settings


def choices(conn: Connection, person_id: str, persona: str) -> MemoryChoices:
    row = conn.execute(
        select(memory_settings).where(
            memory_settings.c.person_id == person_id, memory_settings.c.persona_slug == persona
        )
    ).first()
    return MemoryChoices(row.enabled, row.share, row.version) if row else MemoryChoices()


def _touch(conn: Connection, person_id: str, persona: str, **values: Any) -> None:
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
    with conn.begin():
        _touch(conn, person_id, persona, **values)
        return choices(conn, person_id, persona)


# ---------------------------------------------------------------- writing


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
    Returns the new ids of each group."""
    ids: list[list[int]] = []
    now = utcnow()
    with conn.begin():
        for message_id, items in groups:
            ids.append([])
            for item, vector in items:
                new_id = _add_one(conn, persona, person_id, message_id, said_at, item, vector, now)
                if new_id is not None:
                    ids[-1].append(new_id)
        if person_id is not None:
            _touch(conn, person_id, persona)
    return ids


def _add_one(
    conn: Connection,
    persona: str,
    person_id: str | None,
    message_id: int | None,
    said_at: datetime,
    item: NewMemory,
    vector: bytes,
    now: datetime,
) -> int | None:
    owner = _owner(persona, person_id if item.scope == "person" else None)
    older: list[Row[Any]] = []
    if item.kind in ("fact", "summary") and item.key:
        older = list(
            conn.execute(
                select(memories.c.id, memories.c.text).where(
                    owner, memories.c.key == item.key, memories.c.retired_at.is_(None)
                )
            )
        )
        if any(_same(row.text, item.text) for row in older):
            return None
    new_id = _insert(conn, persona, person_id, message_id, said_at, item, vector, now)
    if older:
        conn.execute(
            update(memories)
            .where(memories.c.id.in_([row.id for row in older]))
            .values(retired_at=now, superseded_by=new_id)
        )
    return new_id


def _insert(
    conn: Connection,
    persona: str,
    person_id: str | None,
    message_id: int | None,
    said_at: datetime,
    item: NewMemory,
    vector: bytes,
    now: datetime,
) -> int:
    key = conn.execute(
        insert(memories).values(
            persona_slug=persona,
            person_id=person_id if item.scope == "person" else None,
            scope=item.scope,
            kind=item.kind,
            text=item.text,
            key=item.key,
            importance=item.importance,
            message_id=message_id,
            said_at=said_at,
            refers_to=item.refers_to,
            embedding=vector,
            created_at=now,
        )
    ).inserted_primary_key
    assert key is not None
    new_id = int(key[0])
    if conn.dialect.name == "sqlite":
        conn.execute(
            text("INSERT INTO memories_fts(rowid, text) VALUES (:id, :text)"),
            {"id": new_id, "text": f"{item.context} {item.text}".strip()},
        )
    return new_id


def _same(a: str, b: str) -> bool:
    return WORD.findall(a.lower()) == WORD.findall(b.lower())


def drop_full_text(conn: Connection, ids: Sequence[int]) -> None:
    """Delete these memories' full-text rows (SQLite's FTS5 keeps its own copy of the text;
    PostgreSQL indexes the table itself)."""
    if ids and conn.dialect.name == "sqlite":
        conn.execute(
            text("DELETE FROM memories_fts WHERE rowid IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": list(ids)},
        )


def delete_memories(conn: Connection, ids: Sequence[int]) -> int:
    """Delete these memories and their full-text rows (inside the caller's transaction)."""
    if not ids:
        return 0
    drop_full_text(conn, ids)
    return conn.execute(delete(memories).where(memories.c.id.in_(list(ids)))).rowcount


def forget(conn: Connection, person_id: str, persona: str, memory_id: int) -> bool:
    """Delete a fact of this person, the facts it superseded, and the raw message it came
    from (kept as an episode): nothing recallable of it is left."""
    with conn.begin():
        mine = _owner(persona, person_id)
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
        _touch(conn, person_id, persona)
        return True


def forget_all(conn: Connection, person_id: str, persona: str) -> int:
    with conn.begin():
        ids = list(conn.execute(select(memories.c.id).where(_owner(persona, person_id))).scalars())
        count = delete_memories(conn, ids)
        _touch(conn, person_id, persona)
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
    with conn.begin():
        mine = _owner(persona, person_id)
        old = conn.execute(
            select(memories).where(mine, memories.c.id == memory_id, memories.c.kind == "fact")
        ).first()
        if old is None or old.retired_at is not None:
            return None
        now = utcnow()
        item = NewMemory("fact", new_text, old.key, max(old.importance, 0.8))
        new_id = _insert(conn, persona, person_id, old.message_id, now, item, vector, now)
        conn.execute(
            update(memories)
            .where(memories.c.id == memory_id)
            .values(retired_at=now, superseded_by=new_id)
        )
        _touch(conn, person_id, persona)
        return new_id


# ---------------------------------------------------------------- reading


def _owner(persona: str, person_id: str | None) -> ColumnElement[bool]:
    """Rows of this owner: a person's memories with this persona, or (person None) the
    persona's own knowledge."""
    if person_id is None:
        return and_(memories.c.persona_slug == persona, memories.c.scope == "persona")
    return and_(
        memories.c.persona_slug == persona,
        memories.c.person_id == person_id,
        memories.c.scope == "person",
    )


def _recallable(persona: str, person_id: str, share: bool) -> ColumnElement[bool]:
    """What a recall may see: the person's memories with this persona, the persona's
    knowledge, and (only when the person opted in) their facts told to other personas."""
    parts = [_owner(persona, person_id), _owner(persona, None)]
    if share:
        parts.append(
            and_(
                memories.c.person_id == person_id,
                memories.c.scope == "person",
                memories.c.kind == "fact",
            )
        )
    return and_(or_(*parts), memories.c.retired_at.is_(None))


def facts(conn: Connection, person_id: str, persona: str) -> list[Memory]:
    """The person's active facts and summaries with this persona, oldest first: what
    /memory numbers."""
    query = (
        select(*_SHOWN)
        .where(
            _owner(persona, person_id),
            memories.c.kind.in_(["fact", "summary"]),
            memories.c.retired_at.is_(None),
        )
        .order_by(memories.c.id)
    )
    return [_memory(row) for row in conn.execute(query)]


def history(conn: Connection, person_id: str, persona: str) -> list[Memory]:
    """Every fact of the person with this persona, retired ones too (supersession history)."""
    query = (
        select(*_SHOWN)
        .where(_owner(persona, person_id), memories.c.kind == "fact")
        .order_by(memories.c.id)
    )
    return [_memory(row) for row in conn.execute(query)]


# Every column but the vector (1.5 kB a row that listing and rendering never read).
_SHOWN = [c for c in memories.c if c.name != "embedding"]


def get_many(conn: Connection, ids: Sequence[int]) -> list[Memory]:
    if not ids:
        return []
    rows = conn.execute(select(*_SHOWN).where(memories.c.id.in_(list(ids))))
    return [_memory(row) for row in rows]


def vector_set(conn: Connection, person_id: str, persona: str, share: bool) -> VectorSet:
    version = choices(conn, person_id, persona).version
    query = select(
        memories.c.id,
        memories.c.embedding,
        memories.c.importance,
        memories.c.said_at,
        memories.c.kind,
        func.substr(memories.c.text, 1, SPEAKER_CHARS + 2).label("opening"),
    ).where(_recallable(persona, person_id, share))
    rows = conn.execute(query.order_by(memories.c.id)).all()
    dim = len(rows[0].embedding) // 4 if rows else 0
    vectors = np.frombuffer(b"".join(r.embedding for r in rows), dtype=np.float32)
    vectors = vectors.reshape(len(rows), dim)
    names: dict[str, int] = {}
    speaker = np.fromiter(
        (_speaker(r.kind, r.opening, names) for r in rows), dtype=np.int32, count=len(rows)
    )
    return VectorSet(
        version,
        np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows)),
        vectors,
        np.fromiter((r.importance for r in rows), dtype=np.float32, count=len(rows)),
        np.fromiter((_ts(r.said_at) for r in rows), dtype=np.float64, count=len(rows)),
        np.ascontiguousarray(sign_bits(vectors).T),
        speaker,
        tuple(names),
    )


SPEAKER_CHARS = 40  # an episode reads "<speaker>: <text>"; longer "names" are no speaker


def _speaker(kind: str, opening: str, names: dict[str, int]) -> int:
    if kind != "episode":
        return -1
    name, colon, _ = opening.partition(": ")
    if not colon or len(name) > SPEAKER_CHARS:
        return -1
    return names.setdefault(name.lower(), len(names))


def sign_bits(vectors: Vector) -> npt.NDArray[np.uint64]:
    """Each row's signs as bits, padded to whole 64-bit words."""
    if vectors.shape[1] % 64:
        pad = np.zeros((len(vectors), 64 - vectors.shape[1] % 64), dtype=np.float32)
        vectors = np.hstack([vectors, pad])
    packed = np.packbits(vectors > 0, axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def lexical(
    conn: Connection, person_id: str, persona: str, share: bool, words: Sequence[str], limit: int
) -> list[int]:
    """Ids of recallable memories matching any of ``words`` (lower-case alphanumerics),
    best first: bm25 on SQLite, ts_rank on PostgreSQL."""
    words = [w for w in words if WORD.fullmatch(w)]
    if not words:
        return []
    where = _recallable(persona, person_id, share)
    if conn.dialect.name == "sqlite":
        words = _telling_words(conn, words)
        match = " OR ".join(f'"{w}"' for w in words)
        # FTS5's own "ORDER BY rank" with a limit first (cheaper than bm25() over every
        # match); only when other owners' rows crowd that window out is the full match read.
        for window in (FTS_WINDOW, None):
            bound = f" LIMIT {window}" if window else ""
            fts = text("SELECT rowid AS id, rank FROM memories_fts WHERE memories_fts MATCH "
                       f":match ORDER BY rank{bound}").bindparams(match=match)  # fmt: skip
            hits = fts.columns(id=memories.c.id.type).subquery("hits")
            query = (
                select(memories.c.id)
                .join(hits, hits.c.id == memories.c.id)
                .where(where)
                .order_by(text("hits.rank"))
                .limit(limit)
            )
            found = list(conn.execute(query).scalars())
            if len(found) >= limit or window is None:
                return found
            total = conn.execute(
                text("SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts "
                     "MATCH :match LIMIT :cap)"), {"match": match, "cap": window + 1}
            ).scalar_one()  # fmt: skip
            if total <= window:
                return found
        return []
    tsquery = " | ".join(words)
    condition = text("to_tsvector('english', memories.text) @@ to_tsquery('english', :q)")
    rank = text("ts_rank(to_tsvector('english', memories.text), to_tsquery('english', :q)) DESC")
    query = (
        select(memories.c.id).where(where, condition).order_by(rank).limit(limit).params(q=tsquery)
    )
    return list(conn.execute(query).scalars())


# A word in more rows than this says little about which memory is meant (bm25 gives it a low
# weight), yet ranking its matches costs a row lookup each: it is left out of a query that has
# rarer words (the query's rarest words are always kept).
COMMON_ROWS = 1_000
KEEP_RAREST = 2
MOST_WORDS = 8  # the rarest this many, at most
_WORD_ROWS = text(
    "SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH :w LIMIT :cap)"
)


def _telling_words(conn: Connection, words: Sequence[str]) -> list[str]:
    """The query's words without those common in the full-text index (counted up to
    COMMON_ROWS + 1, so counting a common word costs no more than that)."""
    if len(words) <= KEEP_RAREST:
        return list(words)
    rows = {
        w: conn.execute(_WORD_ROWS, {"w": f'"{w}"', "cap": COMMON_ROWS + 1}).scalar_one()
        for w in words
    }
    by_rarity = sorted(words, key=lambda w: rows[w])
    kept = set(by_rarity[:KEEP_RAREST])
    kept.update(w for w in by_rarity[:MOST_WORDS] if rows[w] <= COMMON_ROWS)
    return [w for w in words if w in kept]


def unsummarized(
    conn: Connection, person_id: str, persona: str, limit: int
) -> tuple[Memory | None, list[Memory]]:
    """The owner's active rolling summary (None before the first) and up to ``limit`` of the
    episodes stored after it, oldest first."""
    mine = _owner(persona, person_id)
    row = conn.execute(
        select(*_SHOWN)
        .where(mine, memories.c.kind == "summary", memories.c.retired_at.is_(None))
        .order_by(memories.c.id.desc())
        .limit(1)
    ).first()
    summary = _memory(row) if row else None
    query = select(*_SHOWN).where(mine, memories.c.kind == "episode")
    if summary is not None:
        query = query.where(memories.c.id > summary.id)
    rows = conn.execute(query.order_by(memories.c.id).limit(limit))
    return summary, [_memory(r) for r in rows]


def last_episode(conn: Connection, person_id: str, persona: str) -> str | None:
    """The text of the owner's newest episode (the message before the next one)."""
    query = (
        select(memories.c.text)
        .where(_owner(persona, person_id), memories.c.kind == "episode")
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


def _memory(row: Row[Any]) -> Memory:
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


class MemoryStore:
    """The memory operations over the store's runner (SqlStore.runner)."""

    def __init__(self, runner: Runner) -> None:
        self._run = runner

    async def choices(self, person_id: str, persona: str) -> MemoryChoices:
        return await self._run.read(choices, person_id, persona)

    async def set_enabled(self, person_id: str, persona: str, enabled: bool) -> MemoryChoices:
        return await self._run.write(set_choice, person_id, persona, enabled, None)

    async def set_share(self, person_id: str, persona: str, share: bool) -> MemoryChoices:
        return await self._run.write(set_choice, person_id, persona, None, share)

    async def add(
        self,
        persona: str,
        person_id: str | None,
        message_id: int | None,
        said_at: datetime,
        items: Sequence[tuple[NewMemory, bytes]],
    ) -> list[int]:
        return await self._run.write(add, persona, person_id, message_id, said_at, items)

    async def add_groups(
        self,
        persona: str,
        person_id: str | None,
        said_at: datetime,
        groups: Sequence[tuple[int | None, Sequence[tuple[NewMemory, bytes]]]],
    ) -> list[list[int]]:
        return await self._run.write(add_groups, persona, person_id, said_at, groups)

    async def forget(self, person_id: str, persona: str, memory_id: int) -> bool:
        return await self._run.write(forget, person_id, persona, memory_id)

    async def forget_all(self, person_id: str, persona: str) -> int:
        return await self._run.write(forget_all, person_id, persona)

    async def correct(
        self, person_id: str, persona: str, memory_id: int, new_text: str, vector: bytes
    ) -> int | None:
        return await self._run.write(correct, person_id, persona, memory_id, new_text, vector)

    async def facts(self, person_id: str, persona: str) -> list[Memory]:
        return await self._run.read(facts, person_id, persona)

    async def history(self, person_id: str, persona: str) -> list[Memory]:
        return await self._run.read(history, person_id, persona)

    async def get_many(self, ids: Sequence[int]) -> list[Memory]:
        return await self._run.read(get_many, ids)

    async def vector_set(self, person_id: str, persona: str, share: bool) -> VectorSet:
        return await self._run.read(vector_set, person_id, persona, share)

    async def lexical(
        self, person_id: str, persona: str, share: bool, words: Sequence[str], limit: int
    ) -> list[int]:
        return await self._run.read(lexical, person_id, persona, share, words, limit)

    async def message_texts(self, ids: Sequence[int]) -> dict[int, tuple[str, datetime]]:
        return await self._run.read(message_texts, ids)

    async def unsummarized(
        self, person_id: str, persona: str, limit: int
    ) -> tuple[Memory | None, list[Memory]]:
        return await self._run.read(unsummarized, person_id, persona, limit)

    async def last_episode(self, person_id: str, persona: str) -> str | None:
        return await self._run.read(last_episode, person_id, persona)
