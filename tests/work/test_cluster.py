"""The cluster's queue keeps the WorkQueue promise across workers on real PostgreSQL: one
job at a time per conversation in message order (also when submits overtake each other),
conversations spread over workers, a poison job parked after its attempts without blocking
the person's later messages, work recorded while the queue was away submitted by the sweep.
Needs PERSONAE_TEST_POSTGRES_URL (skips, saying so, without it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from personae.stores.sql import SqlStore
from personae.types import Job, Persona, PersonRef

pytest.importorskip("procrastinate", reason="the cluster extra: pip install 'personae[cluster]'")
from personae.work.cluster import ClusterWorkQueue
from stores.conftest import fresh_postgres_database, postgres_base_url


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    postgres_base_url()
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(pg_url)
    yield opened
    await opened.aclose()


async def _queue(store: SqlStore, url: str, name: str, **kw: object) -> ClusterWorkQueue:
    options: dict[str, object] = {"heartbeat_s": 0.5, "stalled_s": 3.0, "retry_wait_s": 0, **kw}
    queue = ClusterWorkQueue(store, url, ["turn"], name=name, **options)  # type: ignore[arg-type]
    await queue.open()
    return queue


async def _accept(store: SqlStore, slug: str, person: str, text: str) -> Job:
    accepted = await store.accept_turn(slug, PersonRef("test", person), text, None, "turn", "{}")
    assert accepted.job is not None
    return accepted.job


async def _persona(store: SqlStore) -> str:
    slug = f"p-{uuid.uuid4().hex[:8]}"
    await store.put_persona(Persona(id=slug, name="Ada", greeting="Hi"))
    return slug


def _handler(
    store: SqlStore, log: list[tuple[str, str, int]], worker: str, fail: Callable[[Job], bool]
) -> Callable[[Job], object]:
    running: dict[str, int] = {}

    async def handle(job: Job) -> None:
        assert await store.claim_job(job.id)  # one attempt more, as begin_turn counts it
        running[job.conversation_id] = running.get(job.conversation_id, 0) + 1
        log.append(("start", job.conversation_id, job.message_id))
        try:
            await asyncio.sleep(0.02)
            if fail(job):
                raise RuntimeError(f"poison message {job.message_id}")
            await store.settle_job(job.id, None)
            log.append(("end", job.conversation_id, job.message_id))
            log.append(("by", worker, job.message_id))
        finally:
            running[job.conversation_id] -= 1

    return handle


async def _until(check: Callable[[], object], timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():  # type: ignore[misc]  # noqa: ASYNC110 (a poll of a log)
            await asyncio.sleep(0.05)


async def test_order_per_conversation_across_two_workers(store: SqlStore, pg_url: str) -> None:
    slug = await _persona(store)
    log: list[tuple[str, str, int]] = []
    # One job at a time each: a worker busy with one conversation leaves the next to the other.
    a = await _queue(store, pg_url, "a", concurrency=1)
    b = await _queue(store, pg_url, "b", concurrency=1)
    try:
        jobs = [await _accept(store, slug, f"person{n % 4}", f"m{n}") for n in range(24)]
        # Submits overtaking each other (two web nodes): later messages first.
        for job in reversed(jobs):
            await a.submit(job)
        await a.serve(_handler(store, log, "a", lambda _: False))
        await b.serve(_handler(store, log, "b", lambda _: False))

        async def all_done() -> bool:
            return sum(1 for entry in log if entry[0] == "end") == len(jobs)

        await _until(all_done)
    finally:
        await a.aclose()
        await b.aclose()
    for conversation in {job.conversation_id for job in jobs}:
        mine = [e for e in log if e[0] in ("start", "end") and e[1] == conversation]
        ids = sorted(job.message_id for job in jobs if job.conversation_id == conversation)
        expected = [(kind, conversation, m) for m in ids for kind in ("start", "end")]
        assert mine == expected, "one at a time, in message order"
    workers = {entry[1] for entry in log if entry[0] == "by"}
    assert workers == {"a", "b"}, "conversations spread over both workers"


async def test_poison_is_parked_and_later_messages_still_run(store: SqlStore, pg_url: str) -> None:
    slug = await _persona(store)
    log: list[tuple[str, str, int]] = []
    first = await _accept(store, slug, "pat", "boom")
    later = await _accept(store, slug, "pat", "fine")
    queue = await _queue(store, pg_url, "a", max_attempts=3)
    try:
        await queue.serve(_handler(store, log, "a", lambda job: job.message_id == first.message_id))
        await queue.submit(first)
        await queue.submit(later)

        async def later_done() -> bool:
            return ("end", later.conversation_id, later.message_id) in log

        await _until(later_done)
    finally:
        await queue.aclose()
    starts = [e for e in log if e[0] == "start" and e[2] == first.message_id]
    assert len(starts) == 3, "tried max_attempts times, then parked"
    parked = await store.parked_jobs()
    assert [(job.id, attempts) for job, attempts, _e, _at in parked] == [(first.id, 3)]
    assert parked[0][2] == "parked after 3 attempts: RuntimeError: poison message " + str(
        first.message_id
    )


async def test_work_the_queue_never_got_is_submitted_by_the_sweep(
    store: SqlStore, pg_url: str
) -> None:
    slug = await _persona(store)
    log: list[tuple[str, str, int]] = []
    orphan = await _accept(store, slug, "sam", "accepted while the queue was down")
    queue = await _queue(store, pg_url, "a", stale_after_s=0.5)
    try:
        await queue.serve(_handler(store, log, "a", lambda _: False))
        await asyncio.sleep(0.6)  # older than the sweep's horizon: never submitted
        await queue.sweep()

        async def done() -> bool:
            return ("end", orphan.conversation_id, orphan.message_id) in log

        await _until(done)
    finally:
        await queue.aclose()


async def test_a_job_asking_to_run_later_is_not_parked(store: SqlStore, pg_url: str) -> None:
    """Every engine down (RetryLater): the job runs again after the delay, past max_attempts,
    while the conversation's later message waits its turn."""
    from personae.errors import RetryLater

    slug = await _persona(store)
    log: list[tuple[str, str, int]] = []
    first = await _accept(store, slug, "kim", "are you there?")
    later = await _accept(store, slug, "kim", "hello?")
    busy = {"left": 4}  # more runs than max_attempts

    def engines_down(job: Job) -> bool:
        if job.message_id == first.message_id and busy["left"] > 0:
            busy["left"] -= 1
            raise RetryLater("every endpoint is down", 0.05)
        return False

    queue = await _queue(store, pg_url, "a", max_attempts=2)
    try:
        await queue.serve(_handler(store, log, "a", engines_down))
        await queue.submit(first)
        await queue.submit(later)

        async def later_done() -> bool:
            return ("end", later.conversation_id, later.message_id) in log

        await _until(later_done)
    finally:
        await queue.aclose()
    ends = [e[2] for e in log if e[0] == "end"]
    assert ends == [first.message_id, later.message_id]  # in order, the first one done
    assert await store.parked_jobs() == []
