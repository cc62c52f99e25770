"""Per-conversation lanes: turns of one conversation run one at a time, in arrival order,
while different conversations run side by side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class Lanes:
    def __init__(self) -> None:
        # key -> (lock, number of turns holding or waiting); entries go when nobody uses them
        self._lanes: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._lanes.get(key, (asyncio.Lock(), 0))
        self._lanes[key] = (lock, users + 1)
        try:
            # asyncio.Lock wakes waiters first-in first-out: arrival order is kept.
            async with lock:
                yield
        finally:
            lock, users = self._lanes[key]
            if users == 1:
                del self._lanes[key]
            else:
                self._lanes[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._lanes)
