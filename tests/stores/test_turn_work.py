"""The turn across accept → work → process → events on the real store (SQLite and PostgreSQL):
redeliveries make one message, one job and one reply; recorded work survives a crash; failed
work is on record and retried; a late subscriber still gets the whole reply."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Connection, select

from personae.contracts import Engine
from personae.core.turn import TURN, TurnRunner
from personae.errors import EngineUnavailable
from personae.plugins import engine_factories
from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.stores.tables import outbox, work
from personae.types import (
    ChatMessage,
    GenerationChunk,
    GenerationRequest,
    ModelSettings,
    Persona,
    PersonRef,
    ReplyRoute,
    TextDelta,
    TurnEvent,
    TurnFinished,
    TurnInput,
)
from personae.work.events import LocalEventHub
from personae.work.local import LocalWorkQueue


@pytest.fixture
async def store(empty_url: str) -> AsyncIterator[SqlStore]:
    """A database of this test's own: a restart resumes every unfinished job it holds."""
    opened = await SqlStore.open(empty_url)
    try:
        yield opened
    finally:
        await opened.aclose()


class Counting:
    """The shipped scripted engine, counting the requests it served; can fail the next N."""

    def __init__(self, inner: Engine, fail_next: int = 0) -> None:
        self.inner, self.info, self.fail_next = inner, inner.info, fail_next
        self.requests: list[GenerationRequest] = []

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        return await self.inner.count_tokens(messages)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self.requests.append(request)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise EngineUnavailable("told to fail", retry_after=1)
        async for chunk in self.inner.generate(request):
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _engine(model: str | None = None, fail_next: int = 0) -> Counting:
    inner = await engine_factories()["scripted"](Settings(engine="scripted"), model)
    return Counting(inner, fail_next)


class Node:
    """One process's share: a work queue, an event hub and a runner over the shared store."""

    def __init__(self, store: SqlStore, engine: Engine) -> None:
        async def resolve(_: ModelSettings) -> Engine:
            return engine

        self.work = LocalWorkQueue(store, [TURN])
        self.runner = TurnRunner(
            personas=store,
            inbox=store,
            turns=store,
            work=self.work,
            events=LocalEventHub(),
            engines=resolve,
            max_message_chars=8000,
            engine_timeout_s=30.0,
        )

    async def start(self) -> Node:
        await self.work.serve(self.runner.process)
        return self


async def _persona(store: SqlStore) -> str:
    slug = f"ada-{uuid.uuid4().hex[:10]}"
    await store.put_persona(Persona(id=slug, name="Ada", greeting="Hello"))
    return slug


def _person(channel: str = "api:local") -> PersonRef:
    return PersonRef(channel, uuid.uuid4().hex[:12])


async def _events(runner: TurnRunner, turn: TurnInput) -> list[TurnEvent]:
    return [event async for event in runner.run(turn)]


def _done(events: list[TurnEvent]) -> TurnFinished:
    assert isinstance(events[-1], TurnFinished)
    return events[-1]


def _work_rows(conn: Connection, conversation_id: str) -> list[Any]:
    query = select(work).where(work.c.conversation_id == conversation_id).order_by(work.c.id)
    return list(conn.execute(query).all())


def _outbox_rows(conn: Connection, conversation_id: str) -> list[Any]:
    query = select(outbox).where(outbox.c.conversation_id == conversation_id)
    return list(conn.execute(query).all())


async def _until_idle(queue: LocalWorkQueue, timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        await queue.join()


async def test_concurrent_redeliveries_make_one_message_one_job_one_reply(
    store: SqlStore,
) -> None:
    engine = await _engine("slow:0.01")
    node = await Node(store, engine).start()
    turn = TurnInput(await _persona(store), "hello", person=_person(), external_id="m-1")
    results = await asyncio.gather(*(_events(node.runner, turn) for _ in range(6)))
    texts = {_done(events).text for events in results}
    assert len(texts) == 1 and len(engine.requests) == 1, "generated once, heard by all six"
    reply = _done(results[0]).reply
    assert reply is not None
    stored = await store.conversation_messages(reply.conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    [job] = await store.run_sync(_work_rows, reply.conversation_id)
    assert (job.status, job.attempts) == ("done", 1)
    await engine.aclose()


async def test_a_burst_keeps_arrival_order_while_other_conversations_run_alongside(
    store: SqlStore,
) -> None:
    engine = await _engine("slow:0.02")
    slug = await _persona(store)
    node = Node(store, engine)  # not serving yet: the burst is accepted before any turn runs
    ana, bo = _person(), _person()
    for text in ("one", "two", "three"):
        accepted = await node.runner.accept(TurnInput(slug, text, person=ana))
        assert accepted.job is not None and accepted.new_work
        await node.work.submit(accepted.job)
    late = await node.runner.accept(TurnInput(slug, "bo here", person=bo))
    assert late.job is not None
    await node.work.submit(late.job)
    await node.start()
    await _until_idle(node.work)
    conversation = await store.open_conversation(slug, ana)
    stored = await store.conversation_messages(conversation.id)
    assert [m.role for m in stored] == ["user", "assistant"] * 3
    assert [m.content for m in stored if m.role == "user"] == ["one", "two", "three"]
    ana_requests = [r for r in engine.requests if r.messages[-1].content in ("one", "two", "three")]
    # Each turn saw the exchanges before it, each reply after its question.
    assert [[m.content for m in r.messages[2:] if m.role == "user"] for r in ana_requests] == [
        ["one"],
        ["one", "two"],
        ["one", "two", "three"],
    ]
    # bo's turn did not wait for ana's three: it was among the first two the engine got (which
    # conversation the queue starts first is not part of its promise).
    assert "bo here" in [r.messages[-1].content for r in engine.requests[:2]]
    await engine.aclose()


async def test_recorded_work_is_processed_exactly_once_after_a_restart(store: SqlStore) -> None:
    engine = await _engine()
    slug = await _persona(store)
    crashed = Node(store, engine)  # accepts, then "dies" before any worker runs the job
    accepted = await crashed.runner.accept(TurnInput(slug, "anyone?", person=_person()))
    assert accepted.job is not None
    await crashed.work.submit(accepted.job)
    assert engine.requests == []
    # A claimed job whose process died mid-turn is resumed too.
    second = await crashed.runner.accept(TurnInput(slug, "hello?", person=_person()))
    assert second.job is not None
    await store.begin_turn(second.job, 10)

    restarted = await Node(store, engine).start()
    await _until_idle(restarted.work)
    again = await Node(store, engine).start()  # and a second restart finds nothing to do
    await _until_idle(again.work)
    assert sorted(r.messages[-1].content for r in engine.requests) == ["anyone?", "hello?"]
    for item in (accepted, second):
        messages = await store.conversation_messages(item.conversation.id)
        assert [m.role for m in messages] == ["user", "assistant"]
        [job] = await store.run_sync(_work_rows, item.conversation.id)
        assert job.status == "done"
    [resumed] = await store.run_sync(_work_rows, second.conversation.id)
    assert resumed.attempts == 2
    await engine.aclose()


async def test_a_failed_job_is_on_record_and_a_retry_runs_it_again(store: SqlStore) -> None:
    engine = await _engine(fail_next=1)
    node = await Node(store, engine).start()
    turn = TurnInput(await _persona(store), "there?", person=_person(), external_id="x-1")
    with pytest.raises(EngineUnavailable):
        await _events(node.runner, turn)
    accepted = await node.runner.accept(turn)  # the retry re-opens the failed job...
    [job] = await store.run_sync(_work_rows, accepted.conversation.id)
    assert (job.status, job.attempts) == ("pending", 1) and "told to fail" in job.last_error
    assert accepted.new_work
    done = _done(await _events(node.runner, turn))  # ...and runs it
    [job] = await store.run_sync(_work_rows, accepted.conversation.id)
    assert (job.status, job.attempts) == ("done", 2)
    turns = await store.conversation_turns(accepted.conversation.id)
    assert [t.status for t in turns] == ["failed", "ok"]
    assert done.reply is not None and done.reply.id == turns[1].reply_message_id
    await engine.aclose()


async def test_a_caller_arriving_mid_turn_gets_the_whole_reply(store: SqlStore) -> None:
    engine = await _engine("slow:0.05")
    node = await Node(store, engine).start()
    turn = TurnInput(await _persona(store), "tell me a story", person=_person())
    first = node.runner.run(turn)
    head = [await anext(first), await anext(first)]  # TurnStarted and the first words
    assert isinstance(head[1], TextDelta)
    second = await _events(node.runner, turn)  # the same message again, still unanswered
    rest = [event async for event in first]
    whole = "".join(e.text for e in second if isinstance(e, TextDelta))
    assert whole == _done(second).text == _done(rest).text
    assert len(engine.requests) == 1
    await engine.aclose()


async def test_a_caller_that_goes_away_does_not_stop_the_turn(store: SqlStore) -> None:
    engine = await _engine("slow:0.02")
    node = await Node(store, engine).start()
    turn = TurnInput(await _persona(store), "a long answer please", person=_person())
    events = node.runner.run(turn)
    started = await anext(events)
    await anext(events)
    await events.aclose()  # the client disconnected
    await _until_idle(node.work)
    assert started.conversation_id is not None  # type: ignore[union-attr]
    stored = await store.conversation_messages(started.conversation_id)  # type: ignore[union-attr]
    assert [m.role for m in stored] == ["user", "assistant"]
    await engine.aclose()


async def test_a_channel_reply_and_its_outbox_entry_are_written_together(store: SqlStore) -> None:
    engine = await _engine()
    node = await Node(store, engine).start()
    slug, person = await _persona(store), _person("whatsapp:acme")
    route = ReplyRoute("whatsapp", "acme", "+4912345")
    hub_turn = TurnInput(slug, "hola", person=person, external_id="wamid.1")
    accepted = await node.runner.enqueue(hub_turn, route)  # as a webhook does
    assert accepted.job is not None and accepted.new_work
    again = await node.runner.enqueue(hub_turn, route)  # Meta redelivers it
    assert again.message == accepted.message and not again.new_work
    await _until_idle(node.work)
    [entry] = await store.run_sync(_outbox_rows, accepted.conversation.id)
    reply = (await store.conversation_messages(accepted.conversation.id))[-1]
    assert (entry.message_id, entry.channel, entry.status) == (reply.id, "whatsapp", "pending")
    assert json.loads(entry.payload) == {
        "connection": "acme",
        "chat_id": "+4912345",
        "text": reply.content,
    }
    # An API conversation's reply has no outbox entry.
    done = _done(await _events(node.runner, TurnInput(slug, "hi", person=_person())))
    assert done.reply is not None
    assert await store.run_sync(_outbox_rows, done.reply.conversation_id) == []
    await engine.aclose()
