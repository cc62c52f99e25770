"""The cluster's event sink: turn events from workers to web processes over PostgreSQL
LISTEN/NOTIFY, so an API stream or the web chat follows a turn another process runs.

Workers publish into a bounded local buffer that one task sends on (``publish`` never waits
on the database, so a slow NOTIFY does not slow a reply). Web processes LISTEN on one channel
and feed every event into an in-process hub (events.py), which hands them to the
subscribers of that message and keeps a running turn's text for a late subscriber. A
notification holds at most 8000 bytes: a bigger event (a TurnFinished with a long trace) goes
in numbered parts, put back together by the listener. PostgreSQL delivers a session's
notifications in order, so the parts and the events of one turn arrive in order. After a lost
connection both sides connect again; events sent meanwhile are lost to their waiters (the
turn itself is stored, and the reply reaches channels through the outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from personae.types import WorkEvent
from personae.work import codec
from personae.work.events import LocalEventHub

log = logging.getLogger(__name__)
CHANNEL = "personae_turn_events"
PART_CHARS = 1800  # 4 bytes a character at most: a part stays under NOTIFY's 8000 bytes
BUFFER = 10_000


class PgEventSink:
    def __init__(self, dsn: str, *, listen: bool) -> None:
        self._dsn = dsn
        self._listen = listen
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
                while True:  # a dead connection shows on the next query
                    await asyncio.sleep(1.0)
                    await conn.fetchval("SELECT 1", timeout=5)
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
