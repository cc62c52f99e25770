"""Back-pressure for a cluster's web nodes: above a depth of waiting work, new webhooks are
answered 503 with Retry-After (Meta and Telegram deliver them again later) instead of growing
a queue the workers cannot catch up with. The depth is read at most once a second."""

from __future__ import annotations

import time
from typing import Protocol

RETRY_AFTER_S = 5
READ_EVERY_S = 1.0


class DepthSource(Protocol):
    async def pending_work(self) -> int: ...


class Backlog:
    def __init__(self, source: DepthSource, max_depth: int) -> None:
        self._source = source
        self.max_depth = max_depth
        self.depth = 0
        self._read_at = float("-inf")

    async def full(self) -> bool:
        now = time.monotonic()
        if now - self._read_at >= READ_EVERY_S:
            self._read_at = now
            self.depth = await self._source.pending_work()
        return self.depth >= self.max_depth
