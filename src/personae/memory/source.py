"""MemorySource: the memory side of the context-block seam (contracts.ContextSource).

One block, after the persona prefix: what the persona remembers about this person that bears
on the new message. Its reasons carry the trace notes (chosen and dropped, and why).
"""

from __future__ import annotations

from collections.abc import Sequence

from personae.memory.service import SOURCE, MemoryService, render
from personae.types.context import ContextBlock, ContextNote, ContextTurn


class MemorySource:
    name = SOURCE

    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory

    async def blocks(self, turn: ContextTurn) -> Sequence[ContextBlock]:
        recall = await self._memory.recall(
            turn.persona_slug, turn.person_id, turn.text, skip_messages=turn.history_ids
        )
        notes = recall.notes
        if not recall.chosen:
            return [ContextBlock("", source=SOURCE, reasons=_reasons(notes))] if notes else []
        return [
            ContextBlock(
                render(recall.chosen),
                role="system",
                position="after_persona",
                priority=50,
                droppable=True,
                source=SOURCE,
                reasons=_reasons(notes),
            )
        ]


def _reasons(notes: Sequence[ContextNote]) -> tuple[str, ...]:
    return tuple(note.as_reason() for note in notes)
