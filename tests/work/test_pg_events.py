"""The cluster's event sink over real PostgreSQL LISTEN/NOTIFY: a web process's subscriber
gets a worker's events in order, a TurnFinished far over NOTIFY's 8000 bytes whole, and a
subscriber arriving mid-turn the text so far. Needs PERSONAE_TEST_POSTGRES_URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from personae.types import TextDelta, Timings, Trace, TurnFinished, TurnStarted, Usage, WorkEvent
from personae.work.cluster import psycopg_url
from personae.work.pg_events import PgEventSink
from stores.conftest import postgres_base_url


@pytest.fixture
async def sinks() -> AsyncIterator[tuple[PgEventSink, PgEventSink]]:
    dsn = psycopg_url(postgres_base_url())
    worker, web = PgEventSink(dsn, listen=False), PgEventSink(dsn, listen=True)
    await worker.start()
    await web.start()
    async with asyncio.timeout(10):
        await web.listening.wait()
    yield worker, web
    await worker.aclose()
    await web.aclose()


async def _collect(web: PgEventSink, message_id: int, into: list[WorkEvent]) -> None:
    async with web.subscribe(message_id) as events:
        async for event in events:
            into.append(event)


async def test_a_turn_reaches_the_web_process_whole_and_in_order(
    sinks: tuple[PgEventSink, PgEventSink],
) -> None:
    worker, web = sinks
    message_id = 10_000_001
    got: list[WorkEvent] = []
    late: list[WorkEvent] = []
    reader = asyncio.create_task(_collect(web, message_id, got))
    await asyncio.sleep(0.1)  # subscribed before the job is submitted, as run() does
    trace = Trace("scripted", "echo", 1, (), (), 0, Timings(0, 0, None, 1), Usage(), "stop")
    words = [f"w{n} " for n in range(50)]
    finished = TurnFinished("é" * 30_000, Usage(1, 50), "stop", trace)  # ~60 KB of UTF-8
    await worker.publish(message_id, TurnStarted("c1", message_id))
    for word in words[:25]:
        await worker.publish(message_id, TextDelta(word))
    async with asyncio.timeout(10):  # the web node has seen the first half
        while sum(isinstance(e, TextDelta) for e in got) < 25:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    latecomer = asyncio.create_task(_collect(web, message_id, late))
    await asyncio.sleep(0.05)
    for word in words[25:]:
        await worker.publish(message_id, TextDelta(word))
    await worker.publish(message_id, finished)
    async with asyncio.timeout(10):
        await reader
        await latecomer
    assert got == [TurnStarted("c1", message_id), *map(TextDelta, words), finished]
    # The late one: the start and the text so far as one delta, then live.
    assert late[:2] == [TurnStarted("c1", message_id), TextDelta("".join(words[:25]))]
    assert late[2:] == [*map(TextDelta, words[25:]), finished]
