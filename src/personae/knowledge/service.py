"""A persona's knowledge base: add, list and delete documents; recall chunks for a turn.

Recall is the hybrid memory uses (personae.memory.recall): full-text and dense rankings
fused by reciprocal rank, the persona's chunk vectors cached in this process until the
store's version for the persona moves on, then the best within a token budget.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from personae.core.prompt import estimate_tokens
from personae.embed.shared import SharedEmbedder
from personae.knowledge.chunk import chunk_text, document_text, media_type
from personae.memory.recall import Weights, dense_ranking, fuse, lexical_ranking, query_words
from personae.stores.knowledge import Chunk, Document, KnowledgeStore, NewDocument
from personae.stores.vectors import VectorSet

CACHED_PERSONAS = 64
MAX_NAME_CHARS = 255
# No importance or recency for documents; no neighbour share either (chunks stand alone).
WEIGHTS = Weights(importance=0.0, recency=0.0, neighbours=0.0)


@dataclass(frozen=True, slots=True)
class ChunkNote:
    """One chunk a recall considered, for the turn trace."""

    item: str
    status: Literal["chosen", "dropped"]
    reason: str
    score: float


@dataclass(frozen=True, slots=True)
class KnowledgeRecall:
    chosen: tuple[Chunk, ...]
    notes: tuple[ChunkNote, ...]


class KnowledgeService:
    def __init__(
        self,
        store: KnowledgeStore,
        embedder: SharedEmbedder,
        *,
        top_k: int = 4,
        budget_tokens: int = 600,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.budget_tokens = budget_tokens
        self._cache: OrderedDict[str, _Known] = OrderedDict()

    async def add(
        self, persona: str, name: str, data: bytes, declared_type: str | None = None
    ) -> Document:
        """Read, chunk and embed a document, then store it (nothing is stored if any step
        fails); KnowledgeInvalid says what is wrong with it."""
        name = name.strip().replace("\\", "/").rsplit("/", 1)[-1][:MAX_NAME_CHARS] or "document"
        kind = media_type(name, declared_type)
        text = await asyncio.to_thread(document_text, name, kind, data)
        chunks = chunk_text(text)
        vectors = await self.embedder.many([f"{c.heading}\n{c.text}".strip() for c in chunks])
        rows = [(c.heading, c.text, v.tobytes()) for c, v in zip(chunks, vectors, strict=True)]
        digest = hashlib.sha256(data).hexdigest()
        return await self.store.add_document(
            NewDocument(persona, name, kind, len(data), digest), rows
        )

    async def recall(self, persona: str, query: str) -> KnowledgeRecall:
        cached = self._cache.get(persona)
        # A persona known to have documents: its query's embedding (shared with the turn's
        # memory recall) starts beside the store's read instead of after it.
        embedding = self.embedder.begin(query) if cached else None
        if embedding is not None:  # left running when the persona has no documents now
            embedding.add_done_callback(_retrieved)

        version = await self.store.version(persona)
        if version == 0:  # no documents: nothing to embed the query for
            return KnowledgeRecall((), ())
        if embedding is None:
            embedding = self.embedder.begin(query)
        known = await self._known(persona, version)
        lexical = lexical_ranking(known.index, query_words(query), WEIGHTS.candidates)
        vector = await embedding
        dense = dense_ranking(known.index, vector, WEIGHTS.candidates)
        ranked = fuse(lexical, dense, known.index, WEIGHTS, limit=self.top_k * 3)
        found = await self._chunks(known, [r.id for r in ranked])
        chosen: list[Chunk] = []
        notes: list[ChunkNote] = []
        used = 0
        for item in ranked:
            chunk = found.get(item.id)
            if chunk is None:  # deleted since the ranking
                continue
            why = f"lexical #{item.lexical_rank or '-'}, dense #{item.dense_rank or '-'}"
            label = f"{chunk.document} #{chunk.position + 1}: {chunk.text[:60]}"
            cost = estimate_tokens(chunk.text) + 8
            score = round(item.score, 5)
            if len(chosen) >= self.top_k:
                notes.append(ChunkNote(label, "dropped", f"below top {self.top_k}; {why}", score))
            elif used + cost > self.budget_tokens:
                reason = f"over the {self.budget_tokens}-token budget; {why}"
                notes.append(ChunkNote(label, "dropped", reason, score))
            else:
                notes.append(ChunkNote(label, "chosen", why, score))
                chosen.append(chunk)
                used += cost
        return KnowledgeRecall(tuple(chosen), tuple(notes))

    async def _chunks(self, known: _Known, ids: list[int]) -> dict[int, Chunk]:
        """The chunks of ``ids``: those read before at this version from the cache (a chunk
        changes only with the version), the rest in one read."""
        missing = [i for i in ids if i not in known.chunks]
        if missing:
            for chunk in await self.store.get_chunks(missing):
                known.chunks[chunk.id] = chunk
        return {i: known.chunks[i] for i in ids if i in known.chunks}

    async def _known(self, persona: str, version: int) -> _Known:
        cached = self._cache.get(persona)
        if cached is not None and cached.version == version:
            self._cache.move_to_end(persona)
            return cached
        fresh = _Known(await self.store.vector_set(persona), {})
        self._cache[persona] = fresh
        if len(self._cache) > CACHED_PERSONAS:
            self._cache.popitem(last=False)
        return fresh


@dataclass(frozen=True, slots=True)
class _Known:
    """What this process holds of one persona's knowledge base at one version: the vectors,
    and the chunks recalls have read (filled as they are asked for)."""

    index: VectorSet
    chunks: dict[int, Chunk]

    @property
    def version(self) -> int:
        return self.index.version


def _retrieved(task: asyncio.Future[npt.NDArray[np.float32]]) -> None:
    """Marks a failed embedding nobody awaited as seen (no "never retrieved" warning)."""
    if not task.cancelled():
        task.exception()


def render(chunks: Sequence[Chunk]) -> str:
    """The block the model reads: each chunk with a citation label it can use."""
    lines = ["From your reference documents (cite as [document #part] when you use one):"]
    for chunk in chunks:
        where = f"{chunk.document} #{chunk.position + 1}"
        heading = f" ({chunk.heading})" if chunk.heading else ""
        lines.append(f"[{where}]{heading}\n{chunk.text}")
    return "\n\n".join(lines)
