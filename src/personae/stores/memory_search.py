"""Recall's searches over memory rows: the owner's vectors as a VectorSet (the dense index)
and full-text search, SQLite FTS5 (bm25) or PostgreSQL full text (ts_rank), over the same
owner filter the vectors use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Connection, and_, func, select, text

from personae.stores.memory_rows import MemoryChoices, choices, recallable
from personae.stores.tables import memories
from personae.stores.vectors import VectorChanges, VectorSet, sign_bits

FTS_WINDOW = 400  # best full-text matches read before the owner filter (see lexical)
WORD = re.compile(r"[a-z0-9]+")


def vector_set(conn: Connection, person_id: str, persona: str, share: bool) -> VectorSet:
    version = choices(conn, person_id, persona).version
    owned = _owned(conn, person_id, persona, None)  # before the rows: see vector_changes
    found = _read_set(conn, version, recallable(persona, person_id, share), {})
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
    after = and_(where, memories.c.id > last)
    retiring = conn.execute(
        select(func.count()).where(after, memories.c.kind.in_(["fact", "summary"]))
    ).scalar_one()
    quick = not share and not retiring and known.owned >= 0
    if quick and _owned(conn, person_id, persona, last) == known.owned:
        added = _read_set(conn, version, after, names)
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
            whole = replace(_read_set(conn, version, where, {}), owned=owned)
            return VectorChanges(version, whole, None, whole=True)
    added = _read_set(conn, version, after, names)
    return VectorChanges(version, replace(added, owned=owned), kept)


def _read_set(
    conn: Connection, version: int, where: ColumnElement[bool], names: dict[str, int]
) -> VectorSet:
    """The rows ``where`` picks as a VectorSet; speakers coded through ``names`` (extended
    with those first seen here)."""
    query = select(
        memories.c.id,
        memories.c.embedding,
        memories.c.importance,
        memories.c.said_at,
        memories.c.kind,
        func.substr(memories.c.text, 1, SPEAKER_CHARS + 2).label("opening"),
    ).where(where)
    rows = conn.execute(query.order_by(memories.c.id)).all()
    dim = len(rows[0].embedding) // 4 if rows else 0
    vectors = np.frombuffer(b"".join(r.embedding for r in rows), dtype=np.float32)
    vectors = vectors.reshape(len(rows), dim)
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


def _ts(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def choices_and_lexical(
    conn: Connection,
    person_id: str,
    persona: str,
    words_for: Callable[[MemoryChoices], WordsAndIds | None],
    limit: int,
) -> tuple[MemoryChoices, list[int] | None]:
    """The owner's choices and, in the same hop when memory is on, the full-text ranking
    for the words ``words_for`` picks once it knows them, with the recallable ids the
    caller keeps (None: no search yet; the caller searches after loading what it needs)."""
    found = choices(conn, person_id, persona)
    if not found.enabled:
        return found, None
    picked = words_for(found)
    if picked is None:
        return found, None
    words, ids = picked
    return found, lexical(conn, person_id, persona, found.share, words, limit, ids)


WordsAndIds = tuple[Sequence[str], npt.NDArray[np.int64]]


def lexical(
    conn: Connection,
    person_id: str,
    persona: str,
    share: bool,
    words: Sequence[str],
    limit: int,
    recallable_ids: npt.NDArray[np.int64] | None = None,
) -> list[int]:
    """Ids of recallable memories matching any of ``words`` (lower-case alphanumerics),
    best first: bm25 on SQLite, ts_rank on PostgreSQL. ``recallable_ids`` (ascending): the
    owner's recallable rows as of now, when the caller keeps them (SQLite then filters the
    best matches by them instead of reading each match's row)."""
    words = [w for w in words if WORD.fullmatch(w)]
    if not words:
        return []
    where = recallable(persona, person_id, share)
    if conn.dialect.name == "sqlite":
        words = _telling_words(conn, words)
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        if recallable_ids is not None:
            found = _best_among(conn, match, recallable_ids, limit)
            if found is not None:
                return found
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


def _best_among(
    conn: Connection, match: str, ids: npt.NDArray[np.int64], limit: int
) -> list[int] | None:
    """The best FTS_WINDOW matches kept when among ``ids``: reading a match's row to check
    its owner (400 random pages of a table whose rows hold their vectors) cost more than
    ranking them. None when other owners' rows crowded the window out (search further)."""
    hits = conn.exec_driver_sql(_BEST, (match, FTS_WINDOW)).scalars().all()
    found = np.asarray(hits, dtype=np.int64)
    at = np.minimum(np.searchsorted(ids, found), max(len(ids) - 1, 0))
    mine = found[ids[at] == found] if len(ids) else found[:0]
    if len(mine) >= limit or len(found) < FTS_WINDOW:
        return [int(i) for i in mine[:limit]]
    return None


_BEST = "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rank LIMIT ?"
# A word in more rows than this says little about which memory is meant (bm25 gives it a low
# weight), yet ranking its matches costs a row lookup each: it is left out of a query that has
# rarer words (the query's rarest words are kept unless they are in more than MOST_ROWS rows:
# full-text search scores every row that matches before it can rank them, so one very common
# word made a recall over 100,000 memories cost 15 ms; the dense ranking still finds those).
COMMON_ROWS = 1_000
MOST_ROWS = 4_000
KEEP_RAREST = 2
MOST_WORDS = 8  # the rarest this many, at most
_WORD_ROWS = (
    "(SELECT count(*) FROM (SELECT 1 FROM memories_fts WHERE memories_fts MATCH ? LIMIT {cap}))"
)


def _telling_words(conn: Connection, words: Sequence[str]) -> list[str]:
    """The query's words without those common in the full-text index (counted up to
    MOST_ROWS + 1, so counting a common word costs no more than that), all counted in one
    statement."""
    counts = (_WORD_ROWS.format(cap=MOST_ROWS + 1) for _ in words)
    found = conn.exec_driver_sql(
        f"SELECT {', '.join(counts)}", tuple(f'"{w}"' for w in words)
    ).one()
    rows = dict(zip(words, found, strict=True))
    by_rarity = sorted(words, key=lambda w: rows[w])
    kept = {w for w in by_rarity[:KEEP_RAREST] if rows[w] <= MOST_ROWS}
    kept.update(w for w in by_rarity[:MOST_WORDS] if rows[w] <= COMMON_ROWS)
    return [w for w in words if w in kept]
