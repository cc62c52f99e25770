"""The embedded event sink: turn events handed from the worker to waiting callers in-process.

While a turn runs the hub keeps its TurnStarted and the text so far (not every event), so a
subscriber that arrives late (a concurrent retry of the same message) catches up and then
follows live. Events for a message nobody waits on go nowhere.

A sink whose events can go missing (a lost database connection) marks the messages waited on
as having a gap: their later text deltas are held back (the middle of the text is missing),
and their end, live or read back from the store, first hands on the rest of the reply after
the text already given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from personae.types import (
    TextDelta,
    TokenLogprob,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    WorkEvent,
)


@dataclass
class _Running:
    started: TurnStarted
    text: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)


class LocalEventHub:
    def __init__(self) -> None:
        self._subscribers: dict[int, set[asyncio.Queue[WorkEvent]]] = {}
        self._running: dict[int, _Running] = {}
        self._gaps: set[int] = set()
        self._heard: dict[int, float] = {}  # when a waited-on message last had an event

    def waiting(self, quiet_s: float = 0.0) -> list[int]:
        """Messages someone waits on that had no event for ``quiet_s`` seconds."""
        now = time.monotonic()
        return [m for m in self._subscribers if now - self._heard.get(m, 0.0) >= quiet_s]

    def gap(self, message_ids: Sequence[int]) -> None:
        """Events of these messages may have been lost: hold their text until their end."""
        self._gaps.update(m for m in message_ids if m in self._subscribers)

    async def publish(self, message_id: int, event: WorkEvent) -> None:
        if message_id in self._subscribers:
            self._heard[message_id] = time.monotonic()
        if message_id in self._gaps:
            event = self._past_gap(message_id, event)
            if isinstance(event, TextDelta) and not event.text:
                return
        if isinstance(event, TurnStarted):
            self._running[message_id] = _Running(event)
        elif isinstance(event, TextDelta):
            running = self._running.get(message_id)
            if running is not None:
                running.text.append(event.text)
                running.logprobs.extend(event.logprobs)
        else:
            self._running.pop(message_id, None)
        for queue in self._subscribers.get(message_id, ()):
            queue.put_nowait(event)

    async def ended(self, message_id: int, event: TurnFinished | TurnFailed) -> None:
        """A turn's end read back from the store: handed on unless its live end came first
        or nobody waits any more."""
        if message_id in self._subscribers:
            self._gaps.add(message_id)  # what was given may lack the turn's last words
            await self.publish(message_id, event)

    def _past_gap(self, message_id: int, event: WorkEvent) -> WorkEvent:
        """After a gap: text deltas are held back; a fresh start ends the gap; the end first
        hands on the reply's rest (then the end itself, queued by publish)."""
        if isinstance(event, TextDelta):
            return TextDelta("")
        self._gaps.discard(message_id)
        if isinstance(event, TurnFinished):
            running = self._running.get(message_id)
            given = "".join(running.text) if running is not None else ""
            if event.text.startswith(given) and len(event.text) > len(given):
                for queue in self._subscribers.get(message_id, ()):
                    queue.put_nowait(TextDelta(event.text[len(given) :]))
        return event

    @asynccontextmanager
    async def subscribe(self, message_id: int) -> AsyncIterator[AsyncIterator[WorkEvent]]:
        queue: asyncio.Queue[WorkEvent] = asyncio.Queue()
        running = self._running.get(message_id)
        if running is not None:
            queue.put_nowait(running.started)
            if running.text:
                queue.put_nowait(TextDelta("".join(running.text), tuple(running.logprobs)))
        self._subscribers.setdefault(message_id, set()).add(queue)
        try:
            yield _until_end(queue)
        finally:
            subscribers = self._subscribers[message_id]
            subscribers.discard(queue)
            if not subscribers:
                del self._subscribers[message_id]
                self._gaps.discard(message_id)
                self._heard.pop(message_id, None)


async def _until_end(queue: asyncio.Queue[WorkEvent]) -> AsyncIterator[WorkEvent]:
    while True:
        event = await queue.get()
        yield event
        if isinstance(event, TurnFinished | TurnFailed):
            return
