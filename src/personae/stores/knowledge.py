"""Knowledge-base rows: a persona's documents and their chunks (see tables.knowledge_*).

Sync functions of a connection, run by the store's Runner through KnowledgeStore. Like
memories, a persona's chunks are loaded as a VectorSet: their stored vectors and their
words' postings (full-text search in the process, stores/postings.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select

from personae.stores import postings
from personae.stores.runner import Runner, atomic
from personae.stores.tables import knowledge_chunks, knowledge_documents, utcnow
from personae.stores.vectors import VectorSet, sign_bits


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
        if chunks:  # one statement for all: no chunk's id is needed here any more
            conn.execute(insert(knowledge_chunks), [
                {"document_id": doc_id, "persona_slug": doc.persona_slug, "position": position,
                 "heading": heading, "text": body, "embedding": vector}
                for position, (heading, body, vector) in enumerate(chunks)
            ])  # fmt: skip
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
    """Delete a document of this persona with its chunks."""
    with atomic(conn):
        found = conn.execute(
            select(knowledge_documents.c.id).where(
                knowledge_documents.c.id == doc_id, knowledge_documents.c.persona_slug == persona
            )
        ).first()
        if found is None:
            return False
        conn.execute(delete(knowledge_chunks).where(knowledge_chunks.c.document_id == doc_id))
        conn.execute(delete(knowledge_documents).where(knowledge_documents.c.id == doc_id))
        return True


# A recall's reads (version, get_chunks) are built once: building and cache-keying a
# statement per call cost more than SQLite's own work (they run on the event loop).
_d, _c = knowledge_documents.c, knowledge_chunks.c
_VERSION = select(func.count(), func.max(_d.id), func.max(_d.created_at)).where(
    _d.persona_slug == bindparam("persona")
)
_CHUNKS = (
    select(_c.id, _c.document_id, _d.name, _c.position, _c.heading, _c.text)
    .join(knowledge_documents, _d.id == _c.document_id)
    .where(_c.id.in_(bindparam("ids", expanding=True)))
)


def version(conn: Connection, persona: str) -> int:
    """0 when the persona has no documents; otherwise changes whenever one is added or
    deleted (chunks come and go only with their document). Read from the documents, not
    their many chunks; the newest upload time is in it because SQLite gives a new row the
    id of a deleted last one (the same ids and count after a replaced document)."""
    count, newest, uploaded = conn.execute(_VERSION, {"persona": persona}).one()
    if not count:
        return 0
    digest = hashlib.sha256(f"{count}:{newest}:{uploaded}".encode()).digest()
    return int.from_bytes(digest[:7], "big") + 1


def vector_set(conn: Connection, persona: str) -> VectorSet:
    current = version(conn, persona)
    c = knowledge_chunks.c
    rows = conn.execute(
        select(c.id, c.embedding, c.heading, c.text).where(c.persona_slug == persona).order_by(c.id)
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
        postings=postings.build(
            *postings.documents((r.id, "chunk", f"{r.heading}\n{r.text}") for r in rows)
        ),
    )


def get_chunks(conn: Connection, ids: Sequence[int]) -> list[Chunk]:
    if not ids:
        return []
    rows = conn.execute(_CHUNKS, {"ids": list(ids)})
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
        return await self._run.read_now(version, persona)

    async def vector_set(self, persona: str) -> VectorSet:
        return await self._run.read(vector_set, persona)

    async def get_chunks(self, ids: Sequence[int]) -> list[Chunk]:
        return await self._run.read_now(get_chunks, ids)
