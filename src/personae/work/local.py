"""The embedded work queue: jobs run in this process, one conversation at a time each.

Every conversation with work has a lane: a heap of its jobs by message id, drained by one
task, so its turns keep arrival order while different conversations run side by side. At
start (``serve``) it resumes every job the database holds unfinished, pending or running:
in embedded mode one process serves a database, so a running job found at start-up was cut
short by a crash or kill, and runs again (its reply was never stored: that would have marked
it done in the same transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Sequence

from personae.contracts import JobHandler, WorkSource
from personae.errors import RetryLater
from personae.types import Job

log = logging.getLogger(__name__)


class LocalWorkQueue:
    def __init__(
        self,
        source: WorkSource,
        kinds: Sequence[str],
        *,
        resume: bool = True,
        calm: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._source = source
        self._calm = calm  # waits while requests need the loop more (pressure.py)
        self._kinds = tuple(kinds)
        self._resume = resume
        self._handler: JobHandler | None = None
        self._lanes: dict[str, list[tuple[int, int, Job]]] = {}
        self._drainers: dict[str, asyncio.Task[None]] = {}
        self._held: set[int] = set()  # ids of jobs queued or running here
        self._closing = False
        self._closed = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    async def submit(self, job: Job) -> None:
        if job.id in self._held or self._closing:
            return
        self._held.add(job.id)
        self._idle.clear()
        heapq.heappush(self._lanes.setdefault(job.conversation_id, []), _entry(job))
        self._start(job.conversation_id)

    async def serve(self, handler: JobHandler) -> None:
        if self._resume:
            # Jobs submitted meanwhile wait in their lanes: a lane starts once the scan's
            # older jobs of its conversation are in it too.
            found = await self._source.unfinished_work(self._kinds)
            if found:
                log.info("resuming %d unfinished job(s)", len(found))
            for job in found:
                await self.submit(job)
        self._handler = handler
        for conversation_id in list(self._lanes):
            self._start(conversation_id)

    async def aclose(self, timeout_s: float = 30.0) -> None:
        self._closing = True
        self._closed.set()
        running = list(self._drainers.values())
        if running:
            await asyncio.wait(running, timeout=timeout_s)
        for task in running:
            task.cancel()

    def _start(self, conversation_id: str) -> None:
        if self._handler is None or conversation_id in self._drainers:
            return
        task = asyncio.create_task(self._drain(conversation_id, self._handler))
        self._drainers[conversation_id] = task

    async def _drain(self, conversation_id: str, handler: JobHandler) -> None:
        lane = self._lanes[conversation_id]
        try:
            while lane and not self._closing:
                if self._calm is not None:
                    await self._calm()
                job = heapq.heappop(lane)[2]
                try:
                    while await self._again(handler, job):
                        pass
                finally:
                    self._held.discard(job.id)
                    if not self._held:
                        self._idle.set()
        finally:
            # No await since the lane was last seen empty: a submit cannot slip in between.
            del self._drainers[conversation_id]
            if not lane:
                del self._lanes[conversation_id]

    async def _again(self, handler: JobHandler, job: Job) -> bool:
        """Run the job once; True when it asked to run again (after its delay, unless the
        queue is closing: then it stays recorded for the next start)."""
        try:
            await handler(job)
        except RetryLater as later:
            log.info("job %d (%s) runs again in %.1fs: %s", job.id, job.kind, later.delay_s, later)
            with contextlib.suppress(TimeoutError):  # closing cuts the wait short
                await asyncio.wait_for(self._closed.wait(), later.delay_s)
            return not self._closing
        except Exception:  # the handler records its failures; this is a bug's trace
            log.exception("job %d (%s) failed", job.id, job.kind)
        return False

    async def join(self) -> None:
        """Wait until no job is queued or running here (tests, a CLI that must finish)."""
        await self._idle.wait()

    def __len__(self) -> int:
        """Jobs queued or running."""
        return len(self._held)


def _entry(job: Job) -> tuple[int, int, Job]:
    return (job.message_id, job.id, job)
