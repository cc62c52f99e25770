"""The turn pipeline on the real SQL store (SQLite) and the shipped scripted engine."""

from __future__ import annotations

import asyncio

import pytest

from personae.core.turn import TurnRunner
from personae.errors import (
    BadRequest,
    EngineUnavailable,
    MessageTooLarge,
    PersonaNotFound,
    TooManyMessages,
)
from personae.stores.sql import SqlStore
from personae.types import (
    ChatMessage,
    PersonRef,
    TextDelta,
    TurnEvent,
    TurnFinished,
    TurnInput,
    TurnStarted,
)

from .conftest import RecordingEngine, make_persona, runner_for, scripted


async def collect(runner: TurnRunner, turn: TurnInput) -> list[TurnEvent]:
    return [event async for event in runner.run(turn)]


def finished(events: list[TurnEvent]) -> TurnFinished:
    last = events[-1]
    assert isinstance(last, TurnFinished)
    return last


async def test_a_turn_streams_and_stores_message_reply_and_trace(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona())
    runner = await runner_for(store, engine)
    ana = PersonRef("api", "ana")
    events = await collect(runner, TurnInput(persona="helper", text="hello there", person=ana))

    assert isinstance(events[0], TurnStarted)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 2, "the reply is streamed in several pieces"
    done = finished(events)
    assert "".join(deltas) == done.text
    assert done.reply is not None and done.reply.content == done.text

    conversation_id = events[0].conversation_id
    assert conversation_id is not None
    stored = await store.conversation_messages(conversation_id)
    assert [(m.role, m.content) for m in stored] == [
        ("user", "hello there"),
        ("assistant", done.text),
    ]
    [turn] = await store.conversation_turns(conversation_id)
    assert turn.status == "ok" and turn.trace is not None
    names = [s.name for s in turn.trace.sections]
    assert names == ["persona", "history", "message"]
    timings = turn.trace.timings
    assert timings.first_token_ms is not None
    assert timings.queued_ms <= timings.assembled_ms <= timings.first_token_ms <= timings.done_ms


async def test_persona_prefix_is_byte_identical_across_people_and_turns(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona())
    runner = await runner_for(store, engine)
    for person, text in [("ana", "one"), ("bo", "two"), ("ana", "three")]:
        turn = TurnInput(persona="helper", text=text, person=PersonRef("api", person))
        await collect(runner, turn)
    prefixes = {tuple(request.messages[:2]) for request in engine.requests}
    assert len(prefixes) == 1
    system, greeting = engine.requests[0].messages[:2]
    assert system.role == "system" and "Helper" in system.content
    assert greeting == ChatMessage("assistant", "Hello! How can I help?")
    # ana's second turn carries her first exchange; bo's does not see ana's.
    assert [m.content for m in engine.requests[2].messages[2:4]] == [
        "one",
        engine.requests[2].messages[3].content,
    ]
    assert all(m.content != "one" for m in engine.requests[1].messages)


async def test_history_is_dropped_oldest_first_in_whole_messages(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona(model={"context_budget": 300, "max_tokens": 40}))
    runner = await runner_for(store, engine)
    ana = PersonRef("api", "ana")
    for number in range(12):
        text = f"message {number} " + "word " * 20
        await collect(runner, TurnInput(persona="helper", text=text, person=ana))
    last = engine.requests[-1]
    contents = [m.content for m in last.messages]
    assert contents[-1].startswith("message 11")
    assert not any(c.startswith("message 0 ") for c in contents), "oldest dropped first"
    kept_users = [c for c in contents if c.startswith("message ")]
    numbers = [int(c.split()[1]) for c in kept_users]
    assert numbers == list(range(numbers[0], 12)), "a contiguous run of the newest messages"

    conversation = await store.open_conversation("helper", ana)
    turns = await store.conversation_turns(conversation.id)
    trace = turns[-1].trace
    assert trace is not None and trace.dropped_message_ids and trace.dropped_tokens > 0
    prompt_tokens = sum(s.tokens for s in trace.sections)
    assert prompt_tokens + last.max_tokens <= trace.budget


async def test_turns_of_one_conversation_run_in_arrival_order(store: SqlStore) -> None:
    await store.put_persona(make_persona())
    slow = RecordingEngine(await scripted("slow:0.01"))
    runner = await runner_for(store, slow)
    ana = PersonRef("api", "ana")
    texts = [f"question {n}" for n in range(5)]
    results = await asyncio.gather(
        *(collect(runner, TurnInput(persona="helper", text=t, person=ana)) for t in texts)
    )
    conversation_id = results[0][0].conversation_id  # type: ignore[union-attr]
    assert conversation_id is not None
    stored = await store.conversation_messages(conversation_id)
    assert [m.content for m in stored if m.role == "user"] == texts
    assert [m.role for m in stored] == ["user", "assistant"] * 5
    # each request saw all earlier exchanges: turn n's prompt ends with question n
    for n, request in enumerate(slow.requests):
        assert request.messages[-1].content == f"question {n}"
        assert sum(1 for m in request.messages if m.role == "user") == n + 1
    await slow.aclose()


async def test_different_conversations_run_concurrently(store: SqlStore) -> None:
    await store.put_persona(make_persona())
    slow = RecordingEngine(await scripted("slow:0.02"))
    runner = await runner_for(store, slow)
    order: list[str] = []

    async def talk(person: str) -> None:
        turn = TurnInput(
            persona="helper", text="tell me a long story", person=PersonRef("api", person)
        )
        async for event in runner.run(turn):
            if isinstance(event, TextDelta) and f"{person}:first" not in order:
                order.append(f"{person}:first")
            if isinstance(event, TurnFinished):
                order.append(f"{person}:done")

    await asyncio.gather(talk("ana"), talk("bo"))
    # both started streaming before either finished
    assert order.index("ana:first") < order.index("bo:done")
    assert order.index("bo:first") < order.index("ana:done")
    await slow.aclose()


async def test_engine_failure_keeps_the_message_and_a_retry_does_not_duplicate_it(
    store: SqlStore,
) -> None:
    await store.put_persona(make_persona())
    flaky = RecordingEngine(await scripted(), fail_next=1)
    runner = await runner_for(store, flaky)
    ana = PersonRef("api", "ana")
    turn = TurnInput(persona="helper", text="are you there?", person=ana)
    with pytest.raises(EngineUnavailable):
        await collect(runner, turn)
    conversation = await store.open_conversation("helper", ana)
    assert [m.content for m in await store.conversation_messages(conversation.id)] == [
        "are you there?"
    ]
    [failed] = await store.conversation_turns(conversation.id)
    assert failed.status == "failed" and failed.trace is not None and failed.trace.error

    done = finished(await collect(runner, turn))
    stored = await store.conversation_messages(conversation.id)
    assert [(m.role, m.content) for m in stored] == [
        ("user", "are you there?"),
        ("assistant", done.text),
    ]
    await flaky.aclose()


async def test_same_external_id_replays_the_stored_reply(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona())
    runner = await runner_for(store, engine)
    turn = TurnInput(persona="helper", text="hi", person=PersonRef("api", "ana"), external_id="m-1")
    first = finished(await collect(runner, turn))
    again = finished(await collect(runner, turn))
    assert again.replayed and again.text == first.text
    assert len(engine.requests) == 1
    assert first.reply is not None
    stored = await store.conversation_messages(first.reply.conversation_id)
    assert len(stored) == 2


async def test_bad_input_is_refused_before_anything_is_stored(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona())
    runner = await runner_for(store, engine, max_message_chars=10)
    ana = PersonRef("api", "ana")
    with pytest.raises(MessageTooLarge) as too_large:
        await collect(runner, TurnInput(persona="helper", text="x" * 11, person=ana))
    assert "11 characters" in str(too_large.value) and "10" in str(too_large.value)
    with pytest.raises(PersonaNotFound):
        await collect(runner, TurnInput(persona="nobody", text="hi", person=ana))
    assert await store.list_conversations() == []


async def test_stateless_turn_uses_given_history_and_stores_nothing(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona())
    runner = await runner_for(store, engine)
    history = (ChatMessage("user", "earlier"), ChatMessage("assistant", "sure"))
    done = finished(
        await collect(
            runner,
            TurnInput(persona="helper", text="now", history=history, instructions="Be brief."),
        )
    )
    assert done.reply is None and done.text
    sent = engine.requests[0].messages
    assert [m.content for m in sent[2:]] == ["Be brief.", "earlier", "sure", "now"]
    assert await store.list_conversations() == []


async def test_a_message_that_cannot_fit_is_refused_but_kept_on_record(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona(model={"context_budget": 256, "max_tokens": 64}))
    runner = await runner_for(store, engine)
    ana = PersonRef("api", "ana")
    with pytest.raises(BadRequest) as refused:
        await collect(runner, TurnInput(persona="helper", text="word " * 400, person=ana))
    assert "budget" in str(refused.value) and "context_budget" in str(refused.value)
    assert engine.requests == [], "nothing was sent to the engine"
    conversation = await store.open_conversation("helper", ana)
    [kept] = await store.conversation_messages(conversation.id)
    assert kept.role == "user"
    [failed] = await store.conversation_turns(conversation.id)
    assert failed.status == "failed" and failed.trace is not None
    assert "budget" in (failed.trace.error or "")


async def test_queued_time_counts_the_wait_for_the_conversation_lane(store: SqlStore) -> None:
    await store.put_persona(make_persona())
    slow = RecordingEngine(await scripted("slow:0.02"))
    runner = await runner_for(store, slow)
    ana = PersonRef("api", "ana")
    first, second = await asyncio.gather(
        collect(runner, TurnInput(persona="helper", text="one two three four", person=ana)),
        collect(runner, TurnInput(persona="helper", text="five six", person=ana)),
    )
    waited = finished(second).trace.timings.queued_ms
    assert waited >= finished(first).trace.timings.done_ms * 0.9, "the second turn waited"
    assert finished(first).trace.timings.queued_ms < waited
    await slow.aclose()


async def test_a_long_history_is_counted_only_while_it_can_fit(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona(model={"context_budget": 400, "max_tokens": 40}))
    runner = await runner_for(store, engine, max_messages=20_000)
    history = tuple(
        ChatMessage("user" if i % 2 == 0 else "assistant", f"message {i}") for i in range(10_000)
    )
    done = finished(await collect(runner, TurnInput("helper", "now", history=history)))
    sent = engine.requests[0].messages
    kept = [m for m in sent if m.content.startswith("message ")]
    assert kept[-1].content == "message 9999" and len(kept) < 100
    # The scripted engine counts words + 4: each history message costs at least 4, so no more
    # than (budget / 4) of them can ever be sent to the tokenizer, never all 10,000.
    counted_history = [m for m in engine.counted if m.content.startswith("message ")]
    assert len(counted_history) <= 400 // 4
    history_section = next(s for s in done.trace.sections if s.name == "history")
    assert history_section.tokens == sum(await engine.count_tokens(kept))
    assert done.trace.dropped_tokens >= (10_000 - len(kept)) * 4


async def test_more_messages_than_the_cap_are_refused_before_any_work(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona())
    runner = await runner_for(store, engine, max_messages=10)
    history = tuple(ChatMessage("user", f"m{i}") for i in range(10))
    with pytest.raises(TooManyMessages) as refused:
        await collect(runner, TurnInput("helper", "now", history=history))
    assert refused.value.param == "messages"
    assert "11 messages" in str(refused.value) and "PERSONAE_MAX_MESSAGES" in str(refused.value)
    assert engine.counted == [] and engine.requests == []
    await collect(runner, TurnInput("helper", "now", history=history[:9]))  # 10: allowed


async def test_example_dialogues_are_chat_turns_in_the_shared_prefix(
    store: SqlStore, engine: RecordingEngine
) -> None:
    examples = [[{"user": "Three days in Lisbon?", "persona": "Alfama, Belém, Sintra."}]]
    await store.put_persona(make_persona(example_dialogues=examples))
    runner = await runner_for(store, engine)
    for person in ("ana", "bo"):
        turn = TurnInput(persona="helper", text="hi", person=PersonRef("api", person))
        await collect(runner, turn)
    first, second = (request.messages for request in engine.requests)
    assert first[:6] == second[:6], "the persona prefix is the same for every person"
    assert [m.role for m in first[:6]] == [
        "system", "system", "user", "assistant", "system", "assistant",
    ]  # fmt: skip
    assert first[2:4] == (
        ChatMessage("user", "Three days in Lisbon?"),
        ChatMessage("assistant", "Alfama, Belém, Sintra."),
    )
    # No script lines a small model would learn to continue.
    assert "User:" not in first[0].content and "Lisbon" not in first[0].content


async def test_a_reply_that_starts_repeating_is_cut_while_streaming(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona())
    runner = await runner_for(store, engine)
    loop = "Book the palace early. " * 4 + "Then rest."
    events = await collect(
        runner, TurnInput(persona="helper", text=loop, person=PersonRef("api", "ana"))
    )
    done = finished(events)
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    # The scripted engine echoes "echo: <text>": its first sentence differs from the rest.
    assert shown == done.text == "echo: Book the palace early. Book the palace early."
    # A repeated sentence, seen as such or (three rounds in) as a loop: the cut is the same.
    assert done.finish_reason == "stop" and done.trace.cut in ("repetition", "loop")
    assert done.usage.completion_tokens > 0 and done.usage.prompt_tokens > 0
    assert done.reply is not None and done.reply.content == done.text
