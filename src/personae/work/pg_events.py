"""The cluster's event sink: turn events from workers to web processes over PostgreSQL
LISTEN/NOTIFY, so an API stream or the web chat follows a turn another process runs.

Workers publish into a bounded local buffer that one task sends on (``publish`` never waits
on the database, so a slow NOTIFY does not slow a reply). Web processes LISTEN on one channel
and feed every event into an in-process hub (events.py), which hands them to the
subscribers of that message and keeps a running turn's text for a late subscriber. A
notification holds at most 8000 bytes: a bigger event (a TurnFinished with a long trace) goes
in numbered parts, put back together by the listener. PostgreSQL delivers a session's
notifications in order, so the parts and the events of one turn arrive in order.

Notifications sent while a connection is down are lost (a sender gives an event up after a
second failed try; a listener misses what was sent before it listens again). The turn itself
is stored, so the listener catches up from the store: once it listens again it marks every
message waited on as having a gap and reads back the turns that ended meanwhile, and every
few seconds it does the same for a message that had no event for a while (an event its
sender lost). The hub then hands on the rest of the reply and its end (events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from personae.core.generation import Clock, replay
from personae.errors import EngineError
from personae.types import StoredMessage, TurnFailed, TurnFinished, WorkEvent
from personae.work import codec
from personae.work.events import LocalEventHub

log = logging.getLogger(__name__)
CHANNEL = "personae_turn_events"
PART_CHARS = 1800  # 4 bytes a character at most: a part stays under NOTIFY's 8000 bytes
BUFFER = 10_000
QUIET_S = 5.0  # a waited-on turn without an event this long is looked up in the store
Outcomes = Callable[[Sequence[int]], Awaitable[dict[int, tuple[StoredMessage | None, str | None]]]]


class PgEventSink:
    def __init__(self, dsn: str, *, listen: bool, outcomes: Outcomes | None = None) -> None:
        """``outcomes`` reads ended turns back from the store (a listener's catch-up)."""
        self._dsn = dsn
        self._listen = listen
        self._outcomes = outcomes
        self._hub = LocalEventHub()
        self._outbox: asyncio.Queue[tuple[int, WorkEvent]] = asyncio.Queue(BUFFER)
        self._sender_id = uuid.uuid4().hex[:8]
        self._serial = 0
        self._parts: dict[tuple[str, int], list[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._send_loop()))
        if self._listen:
            self._tasks.append(asyncio.create_task(self._listen_loop()))
            # Ready means listening: a subscriber from the first request on must hear its turn.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.listening.wait(), 10.0)

    async def publish(self, message_id: int, event: WorkEvent) -> None:
        try:
            self._outbox.put_nowait((message_id, event))
        except asyncio.QueueFull:
            log.warning("turn events dropped: the database is not taking notifications")

    def subscribe(self, message_id: int) -> AbstractAsyncContextManager[AsyncIterator[WorkEvent]]:
        return self._hub.subscribe(message_id)

    async def aclose(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._outbox.join()  # what was published goes out first
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------ sending

    def _frames(self, message_id: int, event: WorkEvent) -> list[str]:
        body = codec.dumps(event)
        self._serial += 1
        parts = [body[i : i + PART_CHARS] for i in range(0, len(body), PART_CHARS)] or [""]
        head = [message_id, self._sender_id, self._serial, len(parts)]
        return [json.dumps([*head, index]) + "\n" + part for index, part in enumerate(parts)]

    async def _send_loop(self) -> None:
        conn: Any = None
        while True:
            message_id, event = await self._outbox.get()
            frames = self._frames(message_id, event)
            for attempt in range(2):
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self._dsn, timeout=5)
                    for frame in frames:
                        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, frame)
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    conn = None
                    if attempt:
                        log.warning("turn event for message %d lost: %s", message_id, exc)
                        await asyncio.sleep(0.5)
            self._outbox.task_done()

    # ------------------------------------------------------------ listening

    async def _listen_loop(self) -> None:
        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
                await conn.add_listener(CHANNEL, self._on_notify)
                self.listening.set()
                # What was sent while away; until the store answers, tried again each second.
                behind = not await self._catch_up(self._hub.waiting(), gap=True)
                quiet = 0.0
                while True:  # a dead connection shows on the next query
                    await asyncio.sleep(1.0)
                    await conn.fetchval("SELECT 1", timeout=5)
                    quiet += 1.0
                    if behind:
                        behind = not await self._catch_up(self._hub.waiting(), gap=True)
                    elif quiet >= QUIET_S:
                        quiet = 0.0
                        await self._catch_up(self._hub.waiting(QUIET_S))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # down or restarted: connect again
                if self.listening.is_set():
                    log.warning("turn events: lost the database (%s); connecting again", exc)
                self.listening.clear()
                self._parts.clear()
                await asyncio.sleep(0.5)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()

    async def _catch_up(self, message_ids: list[int], gap: bool = False) -> bool:
        """Hand on the ends of these turns that the store has and the waiters may not;
        False when the store could not be read. ``gap``: events of all of them may be lost
        (the connection was down), so their text is held until their end; otherwise a quiet
        turn streams on as it comes (a slow model), and only an ended one is handed on."""
        if not message_ids or self._outcomes is None:
            return True
        if gap:
            self._hub.gap(message_ids)
        try:
            ended = await self._outcomes(message_ids)
        except Exception as exc:  # the store is away too (or its pool not yet back)
            log.warning("turn events: could not read ended turns back (%s)", exc)
            return False
        for message_id, (reply, error) in ended.items():
            event: TurnFinished | TurnFailed
            if reply is not None:
                event = replay(reply, None, Clock.since(0.0))
            else:
                event = TurnFailed(EngineError(error or "the turn failed; send it again"))
            await self._hub.ended(message_id, event)
        return True

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        head, _, part = payload.partition("\n")
        message_id, sender, serial, count, index = json.loads(head)
        if count > 1:
            key = (sender, serial)
            parts = self._parts.setdefault(key, [])
            if index != len(parts):  # a part went missing (a reconnect): drop the event
                self._parts.pop(key, None)
                return
            parts.append(part)
            if len(parts) < count:
                return
            part = "".join(self._parts.pop(key))
        event = codec.loads(part)
        # The hub's publish only queues: safe to run from the listener's callback.
        asyncio.get_running_loop().create_task(self._hub.publish(message_id, event))
