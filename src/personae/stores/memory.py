"""What a persona remembers about a person: the memory operations over the store's runner.

The row work is in memory_rows (owners, settings, reading), memory_write (storing,
forgetting, correcting) and memory_search (the dense index and full-text search).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from personae.stores import memory_rows as rows
from personae.stores import memory_search as search
from personae.stores import memory_write as write
from personae.stores.memory_rows import MemoryChoices
from personae.stores.runner import Runner
from personae.stores.vectors import VectorChanges, VectorSet
from personae.types.memory import Memory, NewMemory

__all__ = ["MemoryChoices", "MemoryStore"]


class MemoryStore:
    """The memory operations over the store's runner (SqlStore.runner)."""

    def __init__(self, runner: Runner) -> None:
        self._run = runner

    async def choices(self, person_id: str, persona: str) -> MemoryChoices:
        return await self._run.read_now(rows.choices, person_id, persona)

    async def set_enabled(self, person_id: str, persona: str, enabled: bool) -> MemoryChoices:
        return await self._run.write(rows.set_choice, person_id, persona, enabled, None)

    async def set_share(self, person_id: str, persona: str, share: bool) -> MemoryChoices:
        return await self._run.write(rows.set_choice, person_id, persona, None, share)

    async def add(
        self,
        persona: str,
        person_id: str | None,
        message_id: int | None,
        said_at: datetime,
        items: Sequence[tuple[NewMemory, bytes]],
    ) -> list[int]:
        return await self._run.write(write.add, persona, person_id, message_id, said_at, items)

    async def add_groups(
        self,
        persona: str,
        person_id: str | None,
        said_at: datetime,
        groups: Sequence[tuple[int | None, Sequence[tuple[NewMemory, bytes]]]],
    ) -> list[list[int]]:
        return await self._run.write(write.add_groups, persona, person_id, said_at, groups)

    async def forget(self, person_id: str, persona: str, memory_id: int) -> bool:
        return await self._run.write(write.forget, person_id, persona, memory_id)

    async def forget_all(self, person_id: str, persona: str) -> int:
        return await self._run.write(write.forget_all, person_id, persona)

    async def correct(
        self, person_id: str, persona: str, memory_id: int, new_text: str, vector: bytes
    ) -> int | None:
        return await self._run.write(write.correct, person_id, persona, memory_id, new_text, vector)

    async def facts(self, person_id: str, persona: str) -> list[Memory]:
        return await self._run.read(rows.facts, person_id, persona)

    async def history(self, person_id: str, persona: str) -> list[Memory]:
        return await self._run.read(rows.history, person_id, persona)

    async def get_many(self, ids: Sequence[int]) -> list[Memory]:
        return await self._run.read_now(rows.get_many, ids)

    async def vector_set(self, person_id: str, persona: str, share: bool) -> VectorSet:
        return await self._run.read(search.vector_set, person_id, persona, share)

    async def vector_changes(
        self, person_id: str, persona: str, share: bool, known: VectorSet
    ) -> VectorChanges:
        return await self._run.read(search.vector_changes, person_id, persona, share, known)

    async def message_texts(self, ids: Sequence[int]) -> dict[int, tuple[str, datetime]]:
        return await self._run.read(rows.message_texts, ids)

    async def unsummarized(
        self, person_id: str, persona: str, limit: int
    ) -> tuple[Memory | None, list[Memory]]:
        return await self._run.read(rows.unsummarized, person_id, persona, limit)

    async def last_episode(self, person_id: str, persona: str) -> str | None:
        return await self._run.read(rows.last_episode, person_id, persona)
