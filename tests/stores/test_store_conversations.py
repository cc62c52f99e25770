"""Conversations, idempotent inbound messages, and turns stored with their traces."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from personae.errors import BadRequest, ConversationNotFound, NotFound
from personae.stores.sql import SqlStore
from personae.types import (
    ConversationRef,
    Persona,
    PersonRef,
    PromptSection,
    Timings,
    Trace,
    Usage,
)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"  # tests share a database per session


def _trace(error: str | None = None) -> Trace:
    return Trace(
        engine="scripted",
        model="echo",
        budget=2048,
        sections=(PromptSection("persona", 120, 1), PromptSection("history", 40, 2)),
        dropped_message_ids=(3, 5),
        dropped_tokens=17,
        timings=Timings(queued_ms=0.5, assembled_ms=1.25, first_token_ms=None, done_ms=9.0),
        usage=Usage(prompt_tokens=160, completion_tokens=12, cached_tokens=100),
        finish_reason=None if error else "stop",
        error=error,
    )


async def _persona(store: SqlStore) -> str:
    slug = _id("ada")
    await store.put_persona(Persona(id=slug, name="Ada", greeting="Hello"))
    return slug


async def _conversation(store: SqlStore, channel: str = "web") -> ConversationRef:
    return await store.open_conversation(await _persona(store), PersonRef(channel, _id("p")))


async def test_concurrent_opens_make_one_conversation_and_one_person(store: SqlStore) -> None:
    slug, person = await _persona(store), PersonRef("whatsapp", _id("+49"))
    refs = await asyncio.gather(*(store.open_conversation(slug, person) for _ in range(10)))
    assert len({r.id for r in refs}) == 1
    person_id = await store.find_person(person)
    assert person_id is not None and {r.person_id for r in refs} == {person_id}
    assert len(await store.list_conversations(persona=slug)) == 1
    assert await store.get_conversation(refs[0].id) == refs[0]

    elsewhere = await store.open_conversation(slug, PersonRef("telegram", person.external_id))
    assert elsewhere.id != refs[0].id and elsewhere.person_id != person_id
    assert await store.find_person(PersonRef("telegram", _id("nobody"))) is None
    assert await store.person_ref(person_id, "whatsapp") == person
    with pytest.raises(NotFound, match="GET /api/conversations"):
        await store.person_ref(person_id, "telegram")
    with pytest.raises(ConversationNotFound, match="GET /api/conversations"):
        await store.get_conversation("0" * 32)


async def test_the_same_external_id_is_stored_once_and_replays_its_reply(store: SqlStore) -> None:
    conv = await _conversation(store)
    external = _id("wamid")
    deliveries = await asyncio.gather(
        *(store.add_inbound(conv, "hello", external) for _ in range(5))
    )
    first, no_reply = deliveries[0]
    assert no_reply is None and {m.id for m, _ in deliveries} == {first.id}
    assert first.external_id == external and first.role == "user"

    reply, _ = await store.complete_turn(conv, first, "Hi there", 1, _trace())
    again, replayed = await store.add_inbound(conv, "hello", external)
    assert again == first and replayed == reply
    assert [m.id for m in await store.conversation_messages(conv.id)] == [first.id, reply.id]


async def test_an_external_id_is_scoped_to_its_conversation(store: SqlStore) -> None:
    # Two people on one channel send the same message id (Telegram's are small integers):
    # each gets their own message, and nobody is handed the other's reply.
    slug, external = await _persona(store), _id("m")
    first = await store.open_conversation(slug, PersonRef("api:one", "ann"))
    second = await store.open_conversation(slug, PersonRef("api:one", "ben"))
    mine, _ = await store.add_inbound(first, "my secret", external)
    await store.complete_turn(first, mine, "your secret is safe", 1, _trace())

    theirs, replayed = await store.add_inbound(second, "hello", external)
    assert replayed is None
    assert (theirs.conversation_id, theirs.content) == (second.id, "hello")
    assert theirs.id != mine.id
    assert [m.content for m in await store.conversation_messages(second.id)] == ["hello"]


async def test_a_retry_reuses_the_unanswered_message(store: SqlStore) -> None:
    conv = await _conversation(store)
    pending, _ = await store.add_inbound(conv, "are you there?", None)
    failed = await store.fail_turn(conv, pending, 1, _trace(error="engine down"))
    assert failed.status == "failed" and failed.reply_message_id is None

    retried, reply = await store.add_inbound(conv, "are you there?", None)
    assert retried == pending and reply is None
    other, _ = await store.add_inbound(conv, "hello?", None)
    assert other.id != pending.id

    await store.complete_turn(conv, other, "yes", 1, _trace())
    fresh, _ = await store.add_inbound(conv, "hello?", None)  # answered: a new message
    assert fresh.id not in {pending.id, other.id}


async def test_complete_turn_stores_reply_and_trace_together(store: SqlStore) -> None:
    conv = await _conversation(store)
    inbound, _ = await store.add_inbound(conv, "2+2?", _id("m"))
    failed = await store.fail_turn(conv, inbound, 1, _trace(error="timeout"))
    reply, turn = await store.complete_turn(conv, inbound, "100 in binary", 2, _trace())

    assert (reply.role, reply.content, reply.persona_revision) == ("assistant", "100 in binary", 2)
    assert (turn.status, turn.reply_message_id, turn.inbound_message_id) == (
        "ok",
        reply.id,
        inbound.id,
    )
    stored = await store.conversation_turns(conv.id)
    assert stored == [failed, turn]
    assert stored[1].trace == _trace() and stored[0].trace == _trace(error="timeout")
    assert (await store.history(conv.id, 10))[-1] == reply
    summary = (await store.list_conversations(persona=conv.persona_id))[0]
    assert summary.updated_at == reply.created_at and summary.message_count == 2


async def test_a_second_completion_changes_nothing(store: SqlStore) -> None:
    conv = await _conversation(store)
    inbound, _ = await store.add_inbound(conv, "hi", None)
    first = await store.complete_turn(conv, inbound, "first", 1, _trace())
    before = (await store.list_conversations(persona=conv.persona_id))[0]

    # The reply insert fails on its unique key after the conversation was touched: the
    # whole transaction rolls back and the first completion is returned.
    second = await store.complete_turn(conv, inbound, "second", 1, _trace())
    assert second == first
    after = (await store.list_conversations(persona=conv.persona_id))[0]
    assert after == before
    assert len(await store.conversation_turns(conv.id)) == 1

    unanswered, _ = await store.add_inbound(conv, "still there?", None)
    ghost = ConversationRef("f" * 32, conv.persona_id, conv.person_id, conv.channel)
    with pytest.raises(ConversationNotFound):
        await store.complete_turn(ghost, unanswered, "lost", 1, _trace())
    with pytest.raises(ConversationNotFound):
        await store.fail_turn(ghost, unanswered, 1, _trace())
    with pytest.raises(ConversationNotFound):
        await store.add_inbound(ghost, "hi", None)
    assert len(await store.conversation_messages(conv.id)) == 3
    assert len(await store.conversation_turns(conv.id)) == 1


async def test_history_returns_the_last_messages_oldest_first(store: SqlStore) -> None:
    conv = await _conversation(store)
    for n in range(4):
        inbound, _ = await store.add_inbound(conv, f"q{n}", None)
        await store.complete_turn(conv, inbound, f"a{n}", 1, _trace())
    assert [m.content for m in await store.history(conv.id, 3)] == ["a2", "q3", "a3"]
    assert len(await store.history(conv.id, 100)) == 8
    assert await store.history(conv.id, 0) == []
    ids = [m.id for m in await store.conversation_messages(conv.id)]
    assert ids == sorted(ids) and len(ids) == 8
    for read in (store.conversation_messages, store.conversation_turns):
        with pytest.raises(ConversationNotFound):
            await read("0" * 32)
    with pytest.raises(ConversationNotFound):
        await store.history("0" * 32, 5)


async def test_list_conversations_filters_and_pages_newest_first(store: SqlStore) -> None:
    ada, bob = await _persona(store), await _persona(store)
    alice, carol = PersonRef("web", _id("alice")), PersonRef("web", _id("carol"))
    a1 = await store.open_conversation(ada, alice)
    a2 = await store.open_conversation(ada, carol)
    b1 = await store.open_conversation(bob, alice)
    inbound, _ = await store.add_inbound(a1, "bump", None)  # a1 becomes the most recent

    assert [c.id for c in await store.list_conversations(persona=ada)] == [a1.id, a2.id]
    assert [c.id for c in await store.list_conversations(person_id=a1.person_id)] == [a1.id, b1.id]
    both = await store.list_conversations(persona=bob, person_id=a1.person_id)
    assert [c.id for c in both] == [b1.id]
    assert [c.id for c in await store.list_conversations(persona=ada, limit=1, offset=1)] == [a2.id]
    counts = {c.id: c.message_count for c in await store.list_conversations(persona=ada)}
    assert counts == {a1.id: 1, a2.id: 0}
    newest = (await store.list_conversations(limit=1))[0]
    assert newest.id == a1.id and newest.updated_at == inbound.created_at
    with pytest.raises(BadRequest, match="limit"):
        await store.list_conversations(limit=-1)
