"""An EventSink that also records each turn's outcome in the metrics (stage latencies as
histograms, turns by status) wherever the turn runs, so the core stays free of metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from personae.contracts import EventSink
from personae.metrics import TURNS, observe_turn
from personae.types import TurnFailed, TurnFinished, WorkEvent


class MeteredEvents:
    def __init__(self, inner: EventSink) -> None:
        self.inner = inner

    async def publish(self, message_id: int, event: WorkEvent) -> None:
        if isinstance(event, TurnFinished) and not event.replayed:
            observe_turn(event.trace.timings, event.trace.status)
        elif isinstance(event, TurnFailed):
            TURNS.labels("failed").inc()
        await self.inner.publish(message_id, event)

    def subscribe(self, message_id: int) -> AbstractAsyncContextManager[AsyncIterator[WorkEvent]]:
        return self.inner.subscribe(message_id)
