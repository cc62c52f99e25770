"""Knowledge-base rows: a persona's documents and their chunks (see tables.knowledge_*).

Sync functions of a connection, run by the store's Runner through KnowledgeStore. Like
memories, chunks are searched by full text (SQLite FTS5 written in the chunk's transaction,
or PostgreSQL's GIN index) and by stored vectors, loaded per persona as a VectorSet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, text

from personae.stores.runner import Runner, atomic
from personae.stores.tables import knowledge_chunks, knowledge_documents, utcnow
from personae.stores.vectors import VectorSet, sign_bits

FTS_WINDOW = 400


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    persona_slug: str
    name: str
    media_type: str
    size: int
    sha256: str
    chunks: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Chunk:
    id: int
    document_id: int
    document: str  # the document's name, for citing
    position: int
    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class NewDocument:
    persona_slug: str
    name: str
    media_type: str
    size: int
    sha256: str


def add_document(
    conn: Connection, doc: NewDocument, chunks: Sequence[tuple[str, str, bytes]]
) -> Document:
    """Store a document and its chunks, each (heading, text, vector), in one transaction."""
    now = utcnow()
    with atomic(conn):
        key = conn.execute(
            insert(knowledge_documents).values(
                persona_slug=doc.persona_slug, name=doc.name, media_type=doc.media_type,
                size=doc.size, sha256=doc.sha256, chunks=len(chunks), created_at=now,
            )
        ).inserted_primary_key  # fmt: skip
        assert key is not None
        doc_id = int(key[0])
        for position, (heading, body, vector) in enumerate(chunks):
            chunk_key = conn.execute(
                insert(knowledge_chunks).values(
                    document_id=doc_id, persona_slug=doc.persona_slug, position=position,
                    heading=heading, text=body, embedding=vector,
                )
            ).inserted_primary_key  # fmt: skip
            assert chunk_key is not None
            if conn.dialect.name == "sqlite":
                conn.execute(
                    text("INSERT INTO knowledge_fts(rowid, text) VALUES (:id, :text)"),
                    {"id": int(chunk_key[0]), "text": f"{heading}\n{body}".strip()},
                )
        row = conn.execute(
            select(knowledge_documents).where(knowledge_documents.c.id == doc_id)
        ).one()
    return _document(row)


def documents(conn: Connection, persona: str) -> list[Document]:
    rows = conn.execute(
        select(knowledge_documents)
        .where(knowledge_documents.c.persona_slug == persona)
        .order_by(knowledge_documents.c.id)
    )
    return [_document(row) for row in rows]


def delete_document(conn: Connection, persona: str, doc_id: int) -> bool:
    """Delete a document of this persona with its chunks and their full-text rows."""
    with atomic(conn):
        found = conn.execute(
            select(knowledge_documents.c.id).where(
                knowledge_documents.c.id == doc_id, knowledge_documents.c.persona_slug == persona
            )
        ).first()
        if found is None:
            return False
        ids = list(
            conn.execute(
                select(knowledge_chunks.c.id).where(knowledge_chunks.c.document_id == doc_id)
            ).scalars()
        )
        if ids and conn.dialect.name == "sqlite":
            conn.execute(
                text("DELETE FROM knowledge_fts WHERE rowid IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            )
        conn.execute(delete(knowledge_chunks).where(knowledge_chunks.c.document_id == doc_id))
        conn.execute(delete(knowledge_documents).where(knowledge_documents.c.id == doc_id))
        return True


def version(conn: Connection, persona: str) -> int:
    """0 when the persona has no documents; otherwise changes whenever one is added or
    deleted (chunks come and go only with their document). Read from the documents, not
    their many chunks; the newest upload time is in it because SQLite gives a new row the
    id of a deleted last one (the same ids and count after a replaced document)."""
    d = knowledge_documents.c
    count, newest, uploaded = conn.execute(
        select(func.count(), func.max(d.id), func.max(d.created_at)).where(
            d.persona_slug == persona
        )
    ).one()
    if not count:
        return 0
    digest = hashlib.sha256(f"{count}:{newest}:{uploaded}".encode()).digest()
    return int.from_bytes(digest[:7], "big") + 1


def vector_set(conn: Connection, persona: str) -> VectorSet:
    current = version(conn, persona)
    rows = conn.execute(
        select(knowledge_chunks.c.id, knowledge_chunks.c.embedding)
        .where(knowledge_chunks.c.persona_slug == persona)
        .order_by(knowledge_chunks.c.id)
    ).all()
    dim = len(rows[0].embedding) // 4 if rows else 0
    vectors = np.frombuffer(b"".join(r.embedding for r in rows), dtype=np.float32)
    vectors = vectors.reshape(len(rows), dim)
    return VectorSet(
        current,
        np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows)),
        vectors,
        np.zeros(len(rows), dtype=np.float32),
        np.zeros(len(rows), dtype=np.float64),
        np.ascontiguousarray(sign_bits(vectors).T),
    )


def lexical(
    conn: Connection,
    persona: str,
    words: Sequence[str],
    limit: int,
    persona_ids: npt.NDArray[np.int64] | None = None,
) -> list[int]:
    """Ids of the persona's chunks matching any of ``words`` (lower-case alphanumerics),
    best first. ``persona_ids`` (ascending: the persona's VectorSet ids) lets SQLite keep
    the persona's matches without a join to the chunk rows."""
    if not words:
        return []
    owner = knowledge_chunks.c.persona_slug == persona
    if conn.dialect.name == "sqlite":
        match = " OR ".join(f'"{w}"' for w in words)
        for window in (FTS_WINDOW, None):
            bound = f" LIMIT {window}" if window else ""
            fts = text("SELECT rowid AS id, rank FROM knowledge_fts WHERE knowledge_fts MATCH "
                       f":match ORDER BY rank{bound}").bindparams(match=match)  # fmt: skip
            if persona_ids is not None:
                found = _owned_ids(list(conn.execute(fts).scalars()), persona_ids)[:limit]
            else:
                hits = fts.columns(id=knowledge_chunks.c.id.type).subquery("hits")
                query = (
                    select(knowledge_chunks.c.id)
                    .join(hits, hits.c.id == knowledge_chunks.c.id)
                    .where(owner)
                    .order_by(text("hits.rank"))
                    .limit(limit)
                )
                found = list(conn.execute(query).scalars())
            if len(found) >= limit or window is None:
                return found
        return []
    tsquery = " | ".join(words)
    condition = text("to_tsvector('english', knowledge_chunks.text) @@ to_tsquery('english', :q)")
    rank = text(
        "ts_rank(to_tsvector('english', knowledge_chunks.text), to_tsquery('english', :q)) DESC"
    )
    query = (
        select(knowledge_chunks.c.id)
        .where(owner, condition)
        .order_by(rank)
        .limit(limit)
        .params(q=tsquery)
    )
    return list(conn.execute(query).scalars())


def _owned_ids(ids: list[int], persona_ids: npt.NDArray[np.int64]) -> list[int]:
    """Those of ``ids`` (in their order) that are among ``persona_ids`` (ascending)."""
    if not ids or not len(persona_ids):
        return []
    wanted = np.asarray(ids, dtype=np.int64)
    at = np.minimum(np.searchsorted(persona_ids, wanted), len(persona_ids) - 1)
    return [int(i) for i in wanted[persona_ids[at] == wanted]]


def version_and_lexical(
    conn: Connection,
    persona: str,
    words: Sequence[str],
    limit: int,
    ids_for: Callable[[int], npt.NDArray[np.int64] | None],
) -> tuple[int, list[int] | None]:
    """The persona's version and, in the same hop, the full-text ranking, when ``ids_for``
    (run here, on the store's thread) has the persona's ids of that version: None
    otherwise (the caller loads the vectors, then searches)."""
    current = version(conn, persona)
    if current == 0:
        return 0, []
    persona_ids = ids_for(current)
    if persona_ids is None:
        return current, None
    return current, lexical(conn, persona, words, limit, persona_ids)


def get_chunks(conn: Connection, ids: Sequence[int]) -> list[Chunk]:
    if not ids:
        return []
    c, d = knowledge_chunks.c, knowledge_documents.c
    rows = conn.execute(
        select(c.id, c.document_id, d.name, c.position, c.heading, c.text)
        .join(knowledge_documents, d.id == c.document_id)
        .where(c.id.in_(list(ids)))
    )
    return [Chunk(r.id, r.document_id, r.name, r.position, r.heading, r.text) for r in rows]


def _document(row: Row[Any]) -> Document:
    return Document(
        row.id, row.persona_slug, row.name, row.media_type, row.size, row.sha256, row.chunks,
        row.created_at,
    )  # fmt: skip


class KnowledgeStore:
    """The knowledge-base operations over the store's runner (SqlStore.runner)."""

    def __init__(self, runner: Runner) -> None:
        self._run = runner

    async def add_document(
        self, doc: NewDocument, chunks: Sequence[tuple[str, str, bytes]]
    ) -> Document:
        return await self._run.write(add_document, doc, chunks)

    async def documents(self, persona: str) -> list[Document]:
        return await self._run.read(documents, persona)

    async def delete_document(self, persona: str, doc_id: int) -> bool:
        return await self._run.write(delete_document, persona, doc_id)

    async def version(self, persona: str) -> int:
        return await self._run.read(version, persona)

    async def vector_set(self, persona: str) -> VectorSet:
        return await self._run.read(vector_set, persona)

    async def lexical(
        self,
        persona: str,
        words: Sequence[str],
        limit: int,
        persona_ids: npt.NDArray[np.int64] | None = None,
    ) -> list[int]:
        return await self._run.read(lexical, persona, words, limit, persona_ids)

    async def version_and_lexical(
        self,
        persona: str,
        words: Sequence[str],
        limit: int,
        ids_for: Callable[[int], npt.NDArray[np.int64] | None],
    ) -> tuple[int, list[int] | None]:
        """See version_and_lexical: a recall's reads before the ranking in one hop."""
        return await self._run.read(version_and_lexical, persona, words, limit, ids_for)

    async def get_chunks(self, ids: Sequence[int]) -> list[Chunk]:
        return await self._run.read(get_chunks, ids)
