"""The lorebook as a context source: the persona's book, compiled once per revision, activated
against the turn's recent messages, with sticky/cooldown timers kept per conversation."""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence

from personae.contracts import LoreTimers
from personae.core.lore import SOURCE, CompiledBook, activate, compile_book
from personae.core.prompt import estimate_tokens
from personae.types import ContextBlock, ContextRequest, Lorebook

CACHED_BOOKS = 64


class LoreSource:
    name = SOURCE

    def __init__(self, timers: LoreTimers | None = None) -> None:
        self._timers = timers
        self._books: OrderedDict[tuple[str, int], tuple[Lorebook, CompiledBook]] = OrderedDict()

    def compiled(self, turn: ContextRequest, book: Lorebook) -> CompiledBook:
        """A stored revision never changes, so its compiled book is reused; an unstored persona
        (revision 0) is compiled again unless it is the very same book object."""
        key = (turn.persona.id, turn.persona_revision)
        hit = self._books.get(key)
        if hit is not None and (turn.persona_revision > 0 or hit[0] is book):
            self._books.move_to_end(key)
            return hit[1]
        compiled = compile_book(book)
        self._books[key] = (book, compiled)
        if len(self._books) > CACHED_BOOKS:
            self._books.popitem(last=False)
        return compiled

    async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
        book = turn.persona.lorebook
        if book is None or not book.entries:
            return ()
        compiled = self.compiled(turn, book)
        messages = [turn.text, *(i.message.content for i in reversed(turn.history))]
        position = len(turn.history) + 1
        timed = bool(compiled.timed) and turn.conversation_id is not None
        timers = {}
        if timed and self._timers is not None and turn.conversation_id is not None:
            timers = await self._timers.lore_timers(turn.conversation_id)
        # Seeded by the turn: a retried turn rolls the same probabilities and group picks.
        rng = random.Random(f"{turn.conversation_id}:{turn.message_id}:{position}:{turn.text}")
        result = activate(compiled, turn.persona, messages, position, timers, rng, estimate_tokens)
        if result.timers and self._timers is not None and turn.conversation_id is not None:
            await self._timers.save_lore_timers(turn.conversation_id, result.timers)
        return result.blocks
