"""The embedded work queue keeps its promise: one job at a time per conversation, in message
order, conversations side by side, a job it holds never run twice, recorded work resumed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from personae.types import Job
from personae.work.local import LocalWorkQueue


class Recorded:
    """A WorkSource holding a fixed list of unfinished jobs, as a database would."""

    def __init__(self, jobs: Sequence[Job] = ()) -> None:
        self.jobs = list(jobs)

    async def unfinished_work(self, kinds: Sequence[str]) -> list[Job]:
        return [job for job in self.jobs if job.kind in kinds]


def _job(job_id: int, conversation: str, message_id: int, kind: str = "turn") -> Job:
    return Job(job_id, kind, conversation, message_id, "{}", datetime.now(UTC))


async def test_one_conversation_in_message_order_others_alongside() -> None:
    log: list[str] = []
    running: dict[str, int] = {}

    async def handler(job: Job) -> None:
        running[job.conversation_id] = running.get(job.conversation_id, 0) + 1
        assert running[job.conversation_id] == 1, "never two jobs of one conversation at once"
        log.append(f"start {job.conversation_id}{job.message_id}")
        await asyncio.sleep(0.02)
        log.append(f"end {job.conversation_id}{job.message_id}")
        running[job.conversation_id] -= 1

    queue = LocalWorkQueue(Recorded(), ["turn"])
    # Submitted out of order before serving (a commit that overtook another): message order wins.
    for job in (_job(2, "a", 12), _job(1, "a", 11), _job(3, "b", 13), _job(1, "a", 11)):
        await queue.submit(job)
    assert len(queue) == 3, "the repeated job is held once"
    await queue.serve(handler)
    async with asyncio.timeout(5):
        await queue.join()
    a = [entry for entry in log if entry.endswith(("a11", "a12"))]
    assert a == ["start a11", "end a11", "start a12", "end a12"]
    assert log.index("start b13") < log.index("end a11"), "b ran alongside a"


async def test_serve_resumes_recorded_work_of_its_kinds_only() -> None:
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.id)

    source = Recorded([_job(1, "a", 1), _job(2, "a", 2, kind="outbox"), _job(3, "b", 3)])
    queue = LocalWorkQueue(source, ["turn"])
    await queue.serve(handler)
    async with asyncio.timeout(5):
        await queue.join()
    assert sorted(ran) == [1, 3]
    idle = LocalWorkQueue(source, ["turn"], resume=False)  # a CLI beside the server
    await idle.serve(handler)
    assert len(idle) == 0


async def test_a_handler_that_raises_does_not_stop_the_lane() -> None:
    ran: list[int] = []

    async def handler(job: Job) -> None:
        ran.append(job.id)
        if job.id == 1:
            raise RuntimeError("a bug in one job")

    queue = LocalWorkQueue(Recorded(), ["turn"])
    await queue.serve(handler)
    await queue.submit(_job(1, "a", 1))
    await queue.submit(_job(2, "a", 2))
    async with asyncio.timeout(5):
        await queue.join()
    assert ran == [1, 2]
    await queue.aclose()
    await queue.submit(_job(3, "a", 3))  # closed: taken no more (it stays recorded)
    assert len(queue) == 0
