"""KnowledgeSource: the persona's documents, as a context source (contracts.ContextSource).

One block after the persona prefix (the prefix stays byte-identical for every person): the
chunks of the persona's knowledge base that bear on the new message, with citation labels.
Its reasons carry the trace notes (chosen and dropped, and why).
"""

from __future__ import annotations

from collections.abc import Sequence

from personae.knowledge.service import KnowledgeService, render
from personae.types import ContextBlock, ContextRequest

SOURCE = "knowledge"
# Between memories (50) and lore (100): under budget pressure memories go before documents.
PRIORITY = 75


class KnowledgeSource:
    name = SOURCE

    def __init__(self, knowledge: KnowledgeService, *, enabled: bool = True) -> None:
        self._knowledge = knowledge
        self._enabled = enabled  # PERSONAE_KNOWLEDGE

    async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
        if not self._enabled or not turn.text.strip():
            return []
        recall = await self._knowledge.recall(turn.persona.id, turn.text)
        reasons = tuple(
            (n.item, f"{n.status}: {n.reason} (score {n.score:g})") for n in recall.notes
        )
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
