"""Telegram long polling for connections with ``mode: polling`` (machines without a public URL).

One task per such connection calls ``getUpdates`` and accepts its events exactly as a webhook
does; the offset that confirms updates is sent only after they were accepted, so a crash
between the two makes Telegram deliver them again, and accept makes that a no-op. A watcher
restarts the tasks when the connections change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from personae.channels.inbound import Inbound

log = logging.getLogger("personae.channels")
POLL_S = 30  # how long Telegram holds one getUpdates open
WATCH_S = 1.0  # how often the watcher looks for changed connections
IDLE_S = 0.5  # a pause after an empty answer, so a server that answers at once is not hammered
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)


class Pollers:
    def __init__(self, inbound: Inbound, poll_s: int = POLL_S) -> None:
        self._inbound = inbound
        self._poll_s = poll_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._revision = -1

    def start(self) -> None:
        """Start polling (the server only: a CLI command must not take the bot's updates)."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            if self._inbound.connections.revision != self._revision:
                self._revision = self._inbound.connections.revision
                await self._restart()
            await asyncio.sleep(WATCH_S)

    async def _restart(self) -> None:
        await self._stop_all()
        for connection in self._inbound.connections.of_kind("telegram"):
            if getattr(connection, "mode", "webhook") == "polling":
                self._tasks[connection.key] = asyncio.create_task(self._poll(connection.key))

    async def _poll(self, key: str) -> None:
        offset: int | None = None
        failures = 0
        while True:
            channel: Any = self._inbound.channel("telegram", key)
            if channel is None:
                return
            try:
                events, next_offset, result = await channel.poll(offset, self._poll_s)
                if result.outcome == "sent":
                    await self._inbound.accept(events)
            except Exception:  # the store failed: the updates stay unconfirmed
                log.warning("telegram %s: accepting polled updates failed", key, exc_info=True)
                result, events = None, []
            if result is not None and result.outcome == "sent":
                offset, failures = next_offset, 0
                if not events:
                    await asyncio.sleep(IDLE_S)
                continue
            delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            if result is not None and result.retry_after is not None:
                delay = max(delay, result.retry_after)
            failures += 1
            log.info("telegram %s: polling failed (%s); again in %.0f s", key,
                     result.error if result else "accept failed", delay)  # fmt: skip
            await asyncio.sleep(delay)

    async def _stop_all(self) -> None:
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._stop_all()
