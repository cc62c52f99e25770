"""Memory as the turn uses it: remember after a turn, recall before the next.

``remember`` is the after-turn work (the ``memory`` work kind, off the reply path): the
person's message and the reply are kept as episodes (raw messages stay recallable, with who
said them and when), and the offline extractor adds durable facts, which supersede older
facts in the same slot. ``recall`` ranks the person's memories for a query by lexical and
dense search fused with importance and recency, and takes the best within a token budget.
Vectors of each person × persona are cached in this process and reloaded when the store's
version for them moves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from personae.core.prompt import estimate_tokens
from personae.embed.shared import Embed, SharedEmbedder
from personae.memory.extract import extract_facts
from personae.memory.recall import (
    WORD,
    Weights,
    dense_ranking,
    fuse,
    lexical_ranking,
    named_speakers,
    query_words,
)
from personae.stores.memory import MemoryStore
from personae.stores.postings import CONTEXT_CHARS
from personae.stores.vectors import VectorSet, updated
from personae.types.memory import Memory, NewMemory

SOURCE = "memory"
CACHED_OWNERS = 64
EMBED_CONTEXT_CHARS = 400  # of that, embedded with it (when CONTEXT_WEIGHT is None)
# An episode's vector: its own message's embedding plus this share of the message before
# it (a short reply such as "Yes, last week!" says little by itself). Each message is
# embedded once, alone, instead of again inside the next one's text. None: embed the
# message before with the text instead (twice the tokens).
CONTEXT_WEIGHT: float | None = 0.7
REMEMBERED_OWNERS = 1024  # owners whose newest message's own vector is kept


@dataclass(frozen=True, slots=True)
class MemoryNote:
    """One memory recall considered, for the turn trace: chosen or dropped, and why."""

    item: str
    status: Literal["chosen", "dropped"]
    reason: str
    score: float = 0.0

    def as_reason(self) -> tuple[str, str]:
        """As a context block's (id, why) reason."""
        return (self.item, f"{self.status}: {self.reason} (score {self.score:g})")


@dataclass(frozen=True, slots=True)
class Recall:
    chosen: tuple[Memory, ...]
    notes: tuple[MemoryNote, ...]


class MemoryService:
    def __init__(
        self,
        store: MemoryStore,
        embed: Embed | SharedEmbedder,
        *,
        top_k: int = 8,
        budget_tokens: int = 400,
        weights: Weights | None = None,
    ) -> None:
        self.store = store
        self.embedder = embed if isinstance(embed, SharedEmbedder) else SharedEmbedder(embed)
        self.top_k = top_k
        self.budget_tokens = budget_tokens
        self.weights = weights or Weights()
        self._cache: dict[tuple[str, str, bool], VectorSet] = {}
        # Each owner's newest episode (text, own vector): the context of their next one.
        self._newest: dict[tuple[str, str], tuple[str, npt.NDArray[np.float32]]] = {}

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """CPU-bound: runs in a thread so the event loop keeps serving turns."""
        return await self.embedder.many(texts)

    # ------------------------------------------------------------ remember

    async def remember(
        self,
        persona: str,
        person_id: str,
        said_at: datetime,
        said: Sequence[tuple[int | None, str, str]],
        *,
        check_enabled: bool = True,
        person_first: bool = True,
        facts: Sequence[NewMemory] | None = None,
    ) -> list[list[int]]:
        """Keep messages of a turn, each (message id, speaker, text), as episodes, and the
        facts the person stated (the first message is theirs unless ``person_first`` is
        False: the persona's own message alone), embedded in one batch and stored in one
        transaction; returns the stored ids of each message, in the order given. ``facts``:
        what another extractor found in the person's message (default: the offline one's)."""
        if check_enabled and not (await self.store.choices(person_id, persona)).enabled:
            return [[] for _ in said]
        groups: list[tuple[int | None, list[NewMemory]]] = []
        before = await self.store.last_episode(person_id, persona) or ""
        first_before = before
        for position, (message_id, speaker, text) in enumerate(said):
            items: list[NewMemory] = []
            if text.strip():
                own = f"{speaker}: {text.strip()}"
                items.append(NewMemory("episode", own, None, 0.3, context=before[-CONTEXT_CHARS:]))
                before = own
                if position == 0 and person_first:
                    items.extend(extract_facts(text, said_at) if facts is None else facts)
            groups.append((message_id, items))
        flat = [item for _, items in groups for item in items]
        if not flat:
            return [[] for _ in said]
        vectors = iter(await self._vectors(person_id, persona, first_before, flat))
        stored = [
            (mid, [(item, next(vectors).tobytes()) for item in items]) for mid, items in groups
        ]
        return await self.store.add_groups(persona, person_id, said_at, stored)

    async def _vectors(
        self, person_id: str, persona: str, before: str, items: Sequence[NewMemory]
    ) -> npt.NDArray[np.float32]:
        """One unit vector per item, embedded in one batch; ``before``: the owner's newest
        stored episode (the message before the first episode here)."""
        if CONTEXT_WEIGHT is None:
            return await self.embed([embedded_text(item) for item in items])
        owner = (person_id, persona)
        known = self._newest.get(owner)
        fresh = bool(before) and (known is None or known[0] != before)
        own = await self.embed([item.text for item in items] + ([before] if fresh else []))
        previous = own[-1] if fresh else (known[1] if known is not None and before else None)
        vectors = own[: len(items)].copy()
        newest: tuple[str, npt.NDArray[np.float32]] | None = None
        for row, item in enumerate(items):
            if item.kind != "episode":
                continue
            if previous is not None:
                mixed = own[row] + np.float32(CONTEXT_WEIGHT) * previous
                vectors[row] = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
            previous = own[row]
            newest = (item.text, own[row])
        if newest is not None:
            self._newest.pop(owner, None)
            self._newest[owner] = newest
            if len(self._newest) > REMEMBERED_OWNERS:
                self._newest.pop(next(iter(self._newest)))
        return vectors

    async def add_knowledge(self, persona: str, texts: Sequence[str], said_at: datetime) -> None:
        """Persona-wide memories the creator curates: recalled for every person."""
        vectors = await self.embed(texts)
        items = [
            (NewMemory("fact", t, None, 0.6, scope="persona"), v.tobytes())
            for t, v in zip(texts, vectors, strict=True)
        ]
        await self.store.add(persona, None, None, said_at, items)

    async def correct(self, person_id: str, persona: str, memory_id: int, text: str) -> int | None:
        vector = (await self.embed([text]))[0].tobytes()
        return await self.store.correct(person_id, persona, memory_id, text, vector)

    # ------------------------------------------------------------ recall

    async def recall(
        self,
        persona: str,
        person_id: str,
        query: str,
        *,
        k: int | None = None,
        budget_tokens: int | None = None,
        skip_messages: frozenset[int] = frozenset(),
    ) -> Recall:
        """The memories to show for ``query``: best first, at most ``k``, within budget;
        episodes of ``skip_messages`` (history the prompt already holds) are left out."""
        k = self.top_k if k is None else k
        budget = self.budget_tokens if budget_tokens is None else budget_tokens
        if k <= 0:
            return Recall((), ())
        # The query's embedding is the largest cost of a recall: it starts first and runs (in
        # a thread) beside the store's reads.
        embedding = self.embedder.begin(query)
        embedding.add_done_callback(_retrieved)
        choices = await self.store.choices(person_id, persona)
        if not choices.enabled:  # (the embedding, shared with the turn's other sources, runs on)
            return Recall((), ())
        index = await self._index(person_id, persona, choices.share, choices.version)
        named, words = self._search_words(index, query_words(query))
        lexical = lexical_ranking(index, words, self.weights.candidates)
        vector = await embedding
        dense = dense_ranking(index, vector, self.weights.candidates)
        shown = max(k * 3, 24)  # notes kept for the trace
        # Past k * 3 every place adds a note, so the loop below ends by k * 3 + shown.
        ranked = fuse(lexical, dense, index, self.weights, named, limit=k * 3 + shown)
        found = {m.id: m for m in await self.store.get_many([r.id for r in ranked[: k * 3]])}
        chosen: list[Memory] = []
        notes: list[MemoryNote] = []
        used = 0
        for place, item in enumerate(ranked):
            if place >= k * 3 and len(notes) >= shown:
                break  # nothing below k * 3 is looked up, so nothing more can be chosen
            memory = found.get(item.id)
            why = f"lexical #{item.lexical_rank or '-'}, dense #{item.dense_rank or '-'}"
            score = round(item.score, 5)
            if memory is None:
                if place >= k * 3:  # never looked up: below the top k anyway
                    notes.append(
                        MemoryNote(str(item.id), "dropped", f"below top {k}; {why}", score)
                    )
                continue  # (or forgotten since the ranking)
            if memory.kind == "episode" and memory.message_id in skip_messages:
                continue  # the message itself is in the prompt's history
            cost = estimate_tokens(memory.text) + 2
            label = f"{memory.id}: {memory.text[:80]}"
            if len(chosen) >= k:
                notes.append(MemoryNote(label, "dropped", f"below top {k}; {why}", score))
            elif used + cost > budget:
                reason = f"over the {budget}-token budget; {why}"
                notes.append(MemoryNote(label, "dropped", reason, score))
            else:
                notes.append(MemoryNote(label, "chosen", why, score))
                chosen.append(memory)
                used += cost
        return Recall(tuple(chosen), tuple(notes[:shown]))

    def _search_words(self, index: VectorSet, words: list[str]) -> tuple[frozenset[int], list[str]]:
        """The speakers a query names (codes of index.speakers) and its words for full-text
        search: speakers' names say little there (every line of theirs starts with one) and
        go to the speaker preference instead."""
        named = named_speakers(index, words) if self.weights.speaker else frozenset()
        if not named:
            return named, words
        names = {w for code in named for w in WORD.findall(index.speakers[code])}
        return named, [w for w in words if w not in names] or words

    async def _index(self, person_id: str, persona: str, share: bool, version: int) -> VectorSet:
        """The owner's vectors, kept in this process: read whole once, then brought up to
        date with what changed (a turn adds a few rows to a set of perhaps 100,000)."""
        key = (person_id, persona, share)
        cached = self._cache.get(key)
        if cached is not None and cached.version == version:
            return cached
        if cached is None:
            fresh = await self.store.vector_set(person_id, persona, share)
        else:
            changes = await self.store.vector_changes(person_id, persona, share, cached)
            now = self._cache.get(key)
            if now is not None and now is not cached and now.version >= changes.version:
                return now  # another recall brought it up to date meanwhile
            fresh = updated(cached, changes)
        self._cache.pop(key, None)
        if len(self._cache) >= CACHED_OWNERS:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = fresh
        return fresh


def _retrieved(task: asyncio.Future[npt.NDArray[np.float32]]) -> None:
    """Marks a failed embedding as seen when the recall that started it failed first."""
    if not task.cancelled():
        task.exception()


def embedded_text(item: NewMemory) -> str:
    """What a memory's vector is made from: its text, with the message before it for an
    episode (a short reply such as "Yes, last week!" says little by itself)."""
    context = item.context[-EMBED_CONTEXT_CHARS:] if EMBED_CONTEXT_CHARS > 0 else ""
    return f"{context} {item.text}".strip()


def render(memories: Sequence[Memory]) -> str:
    """The block the model reads: facts first, then remembered messages with their dates."""
    facts = [m for m in memories if m.kind != "episode"]
    episodes = [m for m in memories if m.kind == "episode"]
    lines = ["What you remember about this person (use it when it helps; do not recite it):"]
    lines += [f"- {m.text}" for m in facts]
    lines += [f"- ({m.said_at:%Y-%m-%d}) {m.text}" for m in episodes]
    return "\n".join(lines)
