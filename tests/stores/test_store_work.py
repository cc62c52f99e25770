"""accept records a message and its job in one transaction, once; begin claims the job;
complete_turn writes reply, trace, job done and outbox entries together or not at all."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import Connection, select

from personae.errors import ConversationNotFound
from personae.stores.sql import SqlStore
from personae.stores.tables import outbox, work
from personae.types import Accepted, OutboxItem, Persona, PersonRef, Timings, Trace, Usage


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _trace(error: str | None = None) -> Trace:
    timings = Timings(0.0, 0.0, None, 1.0)
    return Trace("scripted", "echo", 100, (), (), 0, timings, Usage(), None, error)


async def _persona(store: SqlStore) -> str:
    slug = _id("ada")
    await store.put_persona(Persona(id=slug, name="Ada", greeting="Hello"))
    return slug


async def _accept(
    store: SqlStore, slug: str, person: PersonRef, text: str = "hi", external_id: str | None = None
) -> Accepted:
    return await store.accept_turn(slug, person, text, external_id, "turn", '{"n": 1}')


def _rows(conn: Connection, table: Any, message_id: int) -> list[Any]:
    return list(conn.execute(select(table).where(table.c.message_id == message_id)).all())


async def test_accept_stores_the_message_and_its_job_once_even_when_redelivered_concurrently(
    store: SqlStore,
) -> None:
    slug, person = await _persona(store), PersonRef("whatsapp:acme", _id("+49"))
    wamid = _id("wamid")
    results = await asyncio.gather(*(_accept(store, slug, person, "hi", wamid) for _ in range(8)))
    assert len({r.message.id for r in results}) == 1, "one message"
    assert len({r.job.id for r in results if r.job}) == 1, "one job"
    assert sum(r.new_work for r in results) == 1, "recorded once: only one caller submits it"
    [job] = await store.run_sync(_rows, work, results[0].message.id)
    assert (job.status, job.attempts, job.kind, job.payload) == ("pending", 0, "turn", '{"n": 1}')
    again = await _accept(store, slug, person, "hi", wamid)  # sequential redelivery
    assert (again.message, again.job, again.new_work) == (results[0].message, results[0].job, False)
    assert len(await store.conversation_messages(results[0].conversation.id)) == 1


async def test_concurrent_copies_without_an_id_are_one_message(store: SqlStore) -> None:
    slug, person = await _persona(store), PersonRef("web", _id("p"))
    await store.open_conversation(slug, person)  # no unique key left to make them queue
    results = await asyncio.gather(*(_accept(store, slug, person, "same text") for _ in range(6)))
    assert len({r.message.id for r in results}) == 1
    assert sum(r.new_work for r in results) == 1
    other = await _accept(store, slug, person, "another text")
    assert other.message.id != results[0].message.id and other.new_work


async def test_begin_claims_a_job_and_complete_marks_it_done_with_reply_and_outbox(
    store: SqlStore,
) -> None:
    slug, person = await _persona(store), PersonRef("telegram:bot", _id("chat"))
    accepted = await _accept(store, slug, person, "hello")
    assert accepted.job is not None
    context = await store.begin_turn(accepted.job, 10)
    assert (context.status, context.attempts, context.history) == ("running", 1, ())
    assert context.message == accepted.message
    assert await store.unfinished_work(["turn"]) != []  # running counts as unfinished
    items = [OutboxItem("telegram", '{"part": 1}'), OutboxItem("telegram", '{"part": 2}')]
    reply, turn = await store.complete_turn(
        accepted.conversation, accepted.message, "hey", 1, _trace(), accepted.job.id, items
    )
    [job] = await store.run_sync(_rows, work, accepted.message.id)
    assert (job.status, job.last_error) == ("done", None)
    sent = await store.run_sync(_rows, outbox, reply.id)
    assert [(r.channel, r.payload, r.status, r.attempts) for r in sent] == [
        ("telegram", '{"part": 1}', "pending", 0),
        ("telegram", '{"part": 2}', "pending", 0),
    ]
    assert {r.conversation_id for r in sent} == {accepted.conversation.id}
    assert accepted.job.id not in {j.id for j in await store.unfinished_work(["turn"])}
    # Claiming again finds it done, with its reply; nothing runs twice.
    late = await store.begin_turn(accepted.job, 10)
    assert (late.status, late.reply) == ("done", reply)
    redelivered = await _accept(store, slug, person, "hello")
    assert redelivered.reply is None or redelivered.reply == reply
    assert turn.reply_message_id == reply.id


async def test_a_reply_write_that_fails_leaves_no_reply_no_turn_and_the_job_unfinished(
    store: SqlStore,
) -> None:
    slug, person = await _persona(store), PersonRef("web", _id("p"))
    accepted = await _accept(store, slug, person, "hello")
    assert accepted.job is not None
    await store.begin_turn(accepted.job, 10)
    broken = [OutboxItem("web", None)]  # type: ignore[arg-type]  # NOT NULL: the last write fails
    with pytest.raises(Exception):  # noqa: B017 - the backend's own integrity error
        await store.complete_turn(
            accepted.conversation, accepted.message, "hey", 1, _trace(), accepted.job.id, broken
        )
    conversation_id = accepted.conversation.id
    assert [m.role for m in await store.conversation_messages(conversation_id)] == ["user"]
    assert await store.conversation_turns(conversation_id) == []
    [job] = await store.run_sync(_rows, work, accepted.message.id)
    assert job.status == "running", "not done: it runs again after a restart"
    reply, _ = await store.complete_turn(
        accepted.conversation, accepted.message, "hey", 1, _trace(), accepted.job.id
    )
    assert [m.id for m in await store.conversation_messages(conversation_id)][-1] == reply.id


async def test_a_failed_job_is_recorded_and_a_retry_reopens_it(store: SqlStore) -> None:
    slug, person = await _persona(store), PersonRef("api:local", _id("u"))
    accepted = await _accept(store, slug, person, "are you there?", "m-1")
    assert accepted.job is not None
    await store.begin_turn(accepted.job, 10)
    record = await store.fail_turn(
        accepted.conversation, accepted.message, 1, _trace("engine down"), accepted.job.id
    )
    assert record is not None and record.status == "failed"
    [job] = await store.run_sync(_rows, work, accepted.message.id)
    assert (job.status, job.last_error, job.attempts) == ("failed", "engine down", 1)
    assert (await store.begin_turn(accepted.job, 10)).status == "failed"
    retry = await _accept(store, slug, person, "are you there?", "m-1")
    assert retry.job is not None and retry.job.id == accepted.job.id and retry.new_work
    assert (await store.begin_turn(retry.job, 10)).attempts == 2
    # A failure before any persona answered marks only the job.
    assert (
        await store.fail_turn(
            accepted.conversation, accepted.message, None, _trace("gone"), accepted.job.id
        )
        is None
    )
    assert len(await store.conversation_turns(accepted.conversation.id)) == 1


async def test_history_before_a_message_puts_each_reply_after_its_message(
    store: SqlStore,
) -> None:
    slug, person = await _persona(store), PersonRef("web", _id("p"))
    burst = [await _accept(store, slug, person, f"q{n}") for n in range(3)]
    for accepted in burst[:2]:  # answered in order, after all three arrived
        assert accepted.job is not None
        await store.begin_turn(accepted.job, 10)
        await store.complete_turn(
            accepted.conversation, accepted.message, f"a-{accepted.message.content}", 1,
            _trace(), accepted.job.id,
        )  # fmt: skip
    last = burst[2].job
    assert last is not None
    context = await store.begin_turn(last, 10)
    assert [m.content for m in context.history] == ["q0", "a-q0", "q1", "a-q1"]
    stored = await store.conversation_messages(burst[0].conversation.id)
    assert [m.content for m in stored] == ["q0", "a-q0", "q1", "a-q1", "q2"]


async def test_unfinished_work_is_in_arrival_order(store: SqlStore) -> None:
    slug = await _persona(store)
    ana, bo = PersonRef("web", _id("ana")), PersonRef("web", _id("bo"))
    ids = [(await _accept(store, slug, who, text)).message.id for who, text in
           [(ana, "1"), (bo, "2"), (ana, "3")]]  # fmt: skip
    found = [j.message_id for j in await store.unfinished_work(["turn"]) if j.message_id in ids]
    assert found == ids
    assert await store.unfinished_work(["outbox"]) == [] or all(
        j.kind == "outbox" for j in await store.unfinished_work(["outbox"])
    )


async def test_accept_for_a_missing_persona_stores_nothing(store: SqlStore) -> None:
    from personae.errors import PersonaNotFound

    with pytest.raises(PersonaNotFound):
        await _accept(store, _id("nobody"), PersonRef("web", _id("p")))
    with pytest.raises(ConversationNotFound):
        await store.get_conversation("0" * 32)


async def test_an_unpublished_persona_is_accepted_only_for_who_may_see_it(
    store: SqlStore,
) -> None:
    from personae.errors import PersonaNotFound

    slug = _id("draft")
    await store.put_persona(Persona(id=slug, name="Draft", greeting="Hi", published=False))
    person = PersonRef("api:local", _id("u"))
    with pytest.raises(PersonaNotFound):
        await _accept(store, slug, person)
    assert await store.find_person(person) is None, "nothing was stored"
    admin = await store.accept_turn(slug, person, "hi", None, "turn", "{}", True)
    assert admin.new_work
