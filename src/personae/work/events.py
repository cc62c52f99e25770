"""The embedded event sink: turn events handed from the worker to waiting callers in-process.

While a turn runs the hub keeps its TurnStarted and the text so far (not every event), so a
subscriber that arrives late (a concurrent retry of the same message) catches up and then
follows live. Events for a message nobody waits on go nowhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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

    async def publish(self, message_id: int, event: WorkEvent) -> None:
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


async def _until_end(queue: asyncio.Queue[WorkEvent]) -> AsyncIterator[WorkEvent]:
    while True:
        event = await queue.get()
        yield event
        if isinstance(event, TurnFinished | TurnFailed):
            return
