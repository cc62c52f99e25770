"""Knowledge-base rows on both backends: a document and its chunks are stored together,
found by full text (the postings of the persona's set) and by vector, kept to their persona,
and deleted whole, with no second copy of their text left behind."""

from __future__ import annotations

import uuid

import numpy as np
from sqlalchemy import Connection, text

from personae.stores import postings
from personae.stores.knowledge import KnowledgeStore, NewDocument
from personae.stores.sql import SqlStore
from personae.types import Persona


def _vector(seed: int) -> bytes:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return (v / np.linalg.norm(v)).tobytes()


async def _lexical(kb: KnowledgeStore, persona: str, words: list[str], limit: int) -> list[int]:
    """Full-text search as recall runs it: over the postings of the persona's set."""
    index = await kb.vector_set(persona)
    assert index.postings is not None
    return postings.ranking(index.postings, postings.query_codes(words), limit)


async def _persona(store: SqlStore) -> str:
    slug = f"kb-{uuid.uuid4().hex[:8]}"
    await store.put_persona(Persona.model_validate({"id": slug, "name": "K", "greeting": "hi"}))
    return slug


async def test_documents_are_searched_kept_to_their_persona_and_deleted_whole(
    store: SqlStore,
) -> None:
    kb = KnowledgeStore(store.runner)
    mine, theirs = await _persona(store), await _persona(store)
    assert await kb.version(mine) == 0
    chunks = [("Ferry", "The ferry leaves the harbour at ten", _vector(1)),
              ("Tickets", "A lighthouse ticket costs seven euros", _vector(2))]  # fmt: skip
    doc = await kb.add_document(
        NewDocument(mine, "guide.md", "text/markdown", 80, "0" * 64), chunks
    )
    await kb.add_document(
        NewDocument(theirs, "other.md", "text/markdown", 9, "1" * 64),
        [("", "Their ferry timetable", _vector(3))],
    )
    assert doc.chunks == 2 and [d.name for d in await kb.documents(mine)] == ["guide.md"]
    version = await kb.version(mine)
    assert version != 0

    found = await _lexical(kb, mine, ["ferry"], 10)
    [chunk] = await kb.get_chunks(found)
    assert (chunk.document, chunk.heading, chunk.position) == ("guide.md", "Ferry", 0)
    index = await kb.vector_set(mine)
    assert len(index.ids) == 2 and index.version == version
    assert np.allclose(index.vectors[1], np.frombuffer(_vector(2), dtype=np.float32))

    assert not await kb.delete_document(theirs, doc.id), "another persona's document"
    assert await kb.delete_document(mine, doc.id)
    assert await kb.documents(mine) == [] and await _lexical(kb, mine, ["ferry"], 10) == []
    assert await kb.version(mine) == 0
    assert len(await _lexical(kb, theirs, ["ferry"], 10)) == 1

    def leftover(conn: Connection) -> int:
        """The chunk's text was in its row only (r0017 dropped FTS5's copy)."""
        query = text("SELECT count(*) FROM knowledge_chunks WHERE text LIKE '%seven%'")
        return int(conn.execute(query).scalar_one())

    assert await store.runner.read(leftover) == 0


async def test_full_text_search_ranks_the_personas_chunks_by_heading_and_text(
    store: SqlStore,
) -> None:
    kb = KnowledgeStore(store.runner)
    mine, theirs = await _persona(store), await _persona(store)
    await kb.add_document(
        NewDocument(theirs, "other.md", "text/markdown", 9, "1" * 64),
        [("", "Their ferry timetable", _vector(3))],
    )
    await kb.add_document(
        NewDocument(mine, "guide.md", "text/markdown", 80, "0" * 64),
        [("Ferries", "They leave at ten", _vector(1)), ("", "Tickets cost seven", _vector(2))],
    )
    index = await kb.vector_set(mine)
    assert await _lexical(kb, mine, ["ferry"], 10) == [int(index.ids[0])], "heading, stemmed"
    assert sorted(await _lexical(kb, mine, ["ferry", "seven"], 10)) == sorted(index.ids)
    assert await _lexical(kb, mine, ["timetable"], 10) == [], "another persona's chunk"


async def test_the_version_moves_when_a_deleted_documents_ids_are_reused(store: SqlStore) -> None:
    """SQLite gives the next row the deleted last row's id: a document that replaces the
    newest one, with as many chunks, has the same ids and count, yet a new version (recall
    caches its vectors and chunks by version)."""
    kb = KnowledgeStore(store.runner)
    mine = await _persona(store)
    await kb.add_document(
        NewDocument(mine, "a.md", "text/markdown", 9, "a" * 64), [("", "first", _vector(1))]
    )
    last = await kb.add_document(
        NewDocument(mine, "b.md", "text/markdown", 9, "b" * 64), [("", "second", _vector(2))]
    )
    before = await kb.version(mine)
    assert await kb.delete_document(mine, last.id)
    await kb.add_document(
        NewDocument(mine, "c.md", "text/markdown", 9, "c" * 64), [("", "third", _vector(3))]
    )
    assert await kb.version(mine) not in (0, before)
