"""Server-sent events for turns: headers go out only once the turn has really begun.

``prime`` pulls events up to the first text (or the end), so errors raised before any reply
(unknown persona, message too large, engine unavailable) still get a proper HTTP status; later
errors can only be reported inside the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse

from personae.errors import PersonaeError
from personae.server.errors import sse_error_payload
from personae.types import ReplyGuarded, TextDelta, TurnEvent, TurnFinished, TurnStarted

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class Primed:
    """A turn's events with the first ones already pulled."""

    head: list[TurnEvent]
    rest: AsyncIterator[TurnEvent] | None

    async def events(self) -> AsyncIterator[TurnEvent]:
        try:
            for event in self.head:
                yield event
            if self.rest is not None:
                async for event in self.rest:
                    yield event
        finally:
            await _close(self.rest)


async def prime(events: AsyncIterator[TurnEvent]) -> Primed:
    """Pull events until the first one that is not TurnStarted; errors propagate."""
    head: list[TurnEvent] = []
    try:
        while True:
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return Primed(head, None)
            head.append(event)
            if not isinstance(event, TurnStarted):
                return Primed(head, events)
    except BaseException:
        await _close(events)
        raise


async def collect(events: AsyncIterator[TurnEvent]) -> tuple[TurnStarted | None, TurnFinished]:
    """Run a turn to its end (non-streamed replies)."""
    started: TurnStarted | None = None
    try:
        async for event in events:
            if isinstance(event, TurnStarted):
                started = event
            elif isinstance(event, TurnFinished):
                return started, event
    finally:
        await _close(events)
    raise PersonaeError("the turn ended without a reply; this is a bug, please report it")


async def _close(events: AsyncIterator[TurnEvent] | None) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


def encode(data: str, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def sse_response(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


FinishedJson = Callable[[TurnStarted | None, TurnFinished], dict[str, Any]]


async def native_stream(primed: Primed, done: FinishedJson) -> AsyncIterator[bytes]:
    """The /api and /web stream: ``delta`` {"text"}*, then ``done`` (or ``error``). A reply
    the safety guard blocked or rewrote mid-stream sends ``guarded`` {"text", "status",
    "categories"} before ``done``: ``text`` replaces everything shown so far."""
    started: TurnStarted | None = None
    try:
        async for event in primed.events():
            if isinstance(event, TurnStarted):
                started = event
            elif isinstance(event, TextDelta):
                yield encode(json.dumps({"text": event.text}), "delta")
            elif isinstance(event, ReplyGuarded):
                body = {"text": event.text, "status": event.status, "categories": event.categories}
                yield encode(json.dumps(body), "guarded")
            else:
                yield encode(json.dumps(jsonable_encoder(done(started, event))), "done")
    except PersonaeError as exc:
        yield encode(sse_error_payload(exc, openai_shape=False), "error")
