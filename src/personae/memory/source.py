"""MemorySource: what the persona remembers, as a context source (contracts.ContextSource).

One block, after the persona prefix (which stays byte-identical for every person): what the
persona remembers about this person that bears on the new message. Its reasons carry the trace
notes (chosen and dropped, and why).
"""

from __future__ import annotations

from collections.abc import Sequence

from personae.memory.service import SOURCE, MemoryNote, MemoryService, render
from personae.types import ContextBlock, ContextRequest

# Above the history's blocks (<= 0), below lore (100): under budget pressure old history goes
# first, then memories.
PRIORITY = 50


class MemorySource:
    name = SOURCE

    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory

    async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
        if turn.person_id is None:  # a stateless turn: nobody to remember
            return []
        skip = frozenset(h.message_id for h in turn.history if h.message_id is not None)
        recall = await self._memory.recall(
            turn.persona.id, turn.person_id, turn.text, skip_messages=skip
        )
        reasons = _reasons(recall.notes)
        if not recall.chosen:
            return [ContextBlock("", SOURCE, reasons=reasons)] if reasons else []
        return [
            ContextBlock(
                render(recall.chosen),
                SOURCE,
                role="system",
                position="after_persona",
                priority=PRIORITY,
                droppable=True,
                reasons=reasons,
            )
        ]


def _reasons(notes: Sequence[MemoryNote]) -> tuple[tuple[str, str], ...]:
    return tuple(note.as_reason() for note in notes)
