"""The lorebook as a context source: the persona's book, compiled once per revision, activated
against the turn's recent messages, with sticky/cooldown timers kept per conversation."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections import OrderedDict
from collections.abc import Sequence

from personae.contracts import LoreTimers
from personae.core.lore import SOURCE, CompiledBook, activate, compile_book, scan_messages
from personae.core.prompt import estimate_tokens
from personae.types import ContextBlock, ContextRequest, Lorebook, LoreTimer

CACHED_BOOKS = 64
CACHED_CONVERSATIONS = 4096
FREEZE_ENTRIES = 1000
log = logging.getLogger(__name__)


class LoreSource:
    name = SOURCE

    def __init__(self, timers: LoreTimers | None = None) -> None:
        self._timers = timers
        # Timer writes run off the turn's path; the conversation's next turn waits for its own.
        self._writes: dict[str, asyncio.Task[None]] = {}
        # Timers of recent conversations, written through: the store is read once per
        # conversation per process. Sound while one process runs a conversation's turns (the
        # local work queue; a distributed one must keep a conversation on one worker).
        self._known: OrderedDict[str, dict[str, LoreTimer]] = OrderedDict()
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
        if len(book.entries) >= FREEZE_ENTRIES:
            # A big book is millions of long-lived objects that every full garbage collection
            # would walk again (10-20 ms pauses, the p95 of bench/recall_latency.py): collect
            # once, then move what lives now out of the collector's sight. Frozen objects are
            # still freed by reference counting when their book leaves the cache.
            gc.collect()
            gc.freeze()
        return compiled

    async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
        book = turn.persona.lorebook
        if book is None or not book.entries:
            return ()
        # The turn's other sources start first: activation is CPU work on the event loop,
        # and the memory and knowledge sources' first step hands their query's embedding
        # (the longest part of a turn's recall) to a thread.
        await asyncio.sleep(0)
        compiled = self.compiled(turn, book)
        messages = [turn.text, *(i.message.content for i in reversed(turn.history))]
        position = len(turn.history) + 1
        conversation = turn.conversation_id
        timers: dict[str, LoreTimer] = {}
        reading = None
        if compiled.timed and self._timers is not None and conversation is not None:
            known = self._known.get(conversation)
            if known is not None:
                self._known.move_to_end(conversation)
                timers = known
            else:
                reading = asyncio.create_task(self._load(self._timers, conversation))
        hits = scan_messages(compiled, messages)  # while the timers are read
        if reading is not None:
            timers = await reading
        # Seeded by the turn: a retried turn rolls the same probabilities and group picks.
        rng = random.Random(f"{conversation}:{turn.message_id}:{position}:{turn.text}")
        result = activate(compiled, turn.persona, hits, position, timers, rng, estimate_tokens)
        if result.timers and self._timers is not None and conversation is not None:
            self._remember(conversation, {**timers, **{t.entry: t for t in result.timers}})
            task = asyncio.create_task(self._timers.save_lore_timers(conversation, result.timers))
            self._writes[conversation] = task
            task.add_done_callback(lambda done: self._written(conversation, done))
        return result.blocks

    async def _load(self, timers: LoreTimers, conversation: str) -> dict[str, LoreTimer]:
        pending = self._writes.get(conversation)
        if pending is not None:
            await asyncio.wait([pending])
        found = await timers.lore_timers(conversation)
        self._remember(conversation, found)
        return found

    def _remember(self, conversation: str, timers: dict[str, LoreTimer]) -> None:
        self._known[conversation] = timers
        self._known.move_to_end(conversation)
        if len(self._known) > CACHED_CONVERSATIONS:
            self._known.popitem(last=False)

    def _written(self, conversation: str, task: asyncio.Task[None]) -> None:
        if self._writes.get(conversation) is task:
            del self._writes[conversation]
        if not task.cancelled() and task.exception() is not None:
            log.warning("lore timers of %s not saved: %s", conversation, task.exception())

    async def aclose(self) -> None:
        """Let timer writes in flight land."""
        if self._writes:
            await asyncio.wait(list(self._writes.values()))
