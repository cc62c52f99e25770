"""Background work yields to requests: a webhook's 200 before a turn or a send.

Accepting a message is cheap and must answer in milliseconds; running its turn, sending the
reply and the read receipt cost more and may wait, since the job is durable once accepted.
One event loop does both, and asyncio has no priorities, so this gauge samples how late the
loop runs (a timer that should fire every few milliseconds; how much later it fires is the
queue of ready work ahead of it). Background work passes ``calm()`` before each unit and waits
while the loop is late *and* requests that need it are arriving (``note_request``; a loop
that is late only because the machine is busy is no reason to wait): under a flood the server
keeps acknowledging at full speed and the backlog runs as soon as there is room. ``calm()``
never waits longer than ``max_wait_s``, so work still moves, slowly, under a flood that never
ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

RECENT_S = 0.5  # requests this recent count as arriving


class LoopPressure:
    def __init__(
        self, late_ms: float = 4.0, interval_s: float = 0.005, max_wait_s: float = 2.0
    ) -> None:
        self.late_ms = late_ms
        self.lag_ms = 0.0
        self._last_request = float("-inf")
        self._interval = interval_s
        self._max_wait = max_wait_s
        self._task: asyncio.Task[None] | None = None
        self._room = asyncio.Event()  # set while the loop is on time
        self._room.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self._interval)
            lag = max(0.0, (loop.time() - start - self._interval) * 1000.0)
            # Quick to rise, slow to fall: one calm tick amid a flood is not room yet.
            self.lag_ms = lag if lag > self.lag_ms else 0.8 * self.lag_ms + 0.2 * lag
            if self.busy:
                self._room.clear()
            else:
                self._room.set()

    def note_request(self) -> None:
        """A request that must be answered quickly (a webhook) has arrived."""
        self._last_request = time.monotonic()

    @property
    def busy(self) -> bool:
        recent = time.monotonic() - self._last_request < RECENT_S
        return recent and self.lag_ms > self.late_ms

    async def calm(self) -> None:
        """Wait while the loop runs late (at most ``max_wait_s``)."""
        if self._task is None or self._room.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), self._max_wait)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._room.set()
