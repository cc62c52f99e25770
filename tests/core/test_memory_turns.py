"""Memory through real turns: the embedded embedding model, the SQLite store, the work queue
and the scripted engine, wired as the runtime wires them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from personae.contracts import Engine
from personae.core.commands import Commands
from personae.core.prompt import persona_prefix
from personae.core.turn import TURN, TurnRunner
from personae.embed import load_minilm
from personae.memory.commands import MemoryCommands
from personae.memory.service import MemoryService
from personae.memory.source import MemorySource
from personae.memory.work import MEMORY, MemoryWork
from personae.stores.memory import MemoryStore
from personae.stores.sql import SqlStore
from personae.types import Job, ModelSettings, PersonRef, TurnFinished, TurnInput
from personae.work.events import LocalEventHub
from personae.work.local import LocalWorkQueue

from .conftest import RecordingEngine, make_persona, scripted


def test_the_embedder_reproduces_the_reference_similarities() -> None:
    # sentence-transformers' quick-start sentences and its published cosine similarities.
    model = load_minilm()
    e = model.embed(
        [
            "That is a happy person",
            "That is a happy dog",
            "That is a very happy person",
            "Today is a sunny day",
        ]
    )
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] == pytest.approx(0.6946, abs=1e-3)
    assert e[0] @ e[2] == pytest.approx(0.9429, abs=1e-3)
    assert e[0] @ e[3] == pytest.approx(0.2569, abs=1e-3)
    alone = model.embed(["That is a happy dog"])[0]
    assert np.allclose(alone, e[1], atol=1e-5), "batching (padding) does not change a vector"


class Wired:
    def __init__(self, store: SqlStore, engine: Engine) -> None:
        self.store = store
        self.engine = engine
        self.work = LocalWorkQueue(store, [TURN, MEMORY])
        self.memory = MemoryService(MemoryStore(store.runner), load_minilm().embed)
        memory_work = MemoryWork(store, self.memory, self.work)
        commands = Commands()
        MemoryCommands(self.memory).register(commands)

        async def resolve(_: ModelSettings) -> Engine:
            return engine

        self.runner = TurnRunner(
            personas=store, inbox=store, turns=store, work=self.work, events=LocalEventHub(),
            engines=resolve, max_message_chars=8000, engine_timeout_s=30.0,
            commands=commands, sources=[MemorySource(self.memory)],
            after_turn=memory_work.after_turn,
        )  # fmt: skip

        async def process(job: Job) -> None:
            if job.kind == MEMORY:
                await memory_work.process(job)
            else:
                await self.runner.process(job)

        self._process = process

    async def start(self) -> None:
        await self.work.serve(self._process)

    async def say(self, person: str, text: str) -> TurnFinished:
        done = None
        turn = TurnInput(persona="helper", text=text, person=PersonRef("api", person))
        async for event in self.runner.run(turn):
            if isinstance(event, TurnFinished):
                done = event
        await self.work.join()  # the after-turn memory work too
        assert done is not None
        return done


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[Wired]:
    store = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 'memory.db'}")
    engine = RecordingEngine(await scripted())
    await store.put_persona(make_persona())
    built = Wired(store, engine)
    await built.start()
    yield built
    await built.work.aclose()
    await engine.aclose()
    await store.aclose()


async def test_a_fact_told_in_one_turn_is_recalled_in_the_next(wired: Wired) -> None:
    await wired.say("ana", "My sister's name is Beatriz and she lives abroad.")
    done = await wired.say("ana", "What is my sister called again?")
    engine = wired.engine
    assert isinstance(engine, RecordingEngine)
    messages = engine.requests[-1].messages
    prefix = persona_prefix(make_persona())
    assert tuple(messages[: len(prefix)]) == prefix, "the persona prefix stays first, unchanged"
    block = messages[len(prefix)]
    assert block.role == "system" and "Their sister's name is Beatriz" in block.content
    # The trace says which memories were chosen, and why.
    [memory] = [n for n in done.trace.context if n.source == "memory"]
    assert memory.outcome == "chosen"
    assert any("Beatriz" in item and why.startswith("chosen") for item, why in memory.reasons)

    # Another person talking to the same persona recalls nothing of Ana's.
    await wired.say("bob", "What is my sister called?")
    bob_prompt = "\n".join(m.content for m in engine.requests[-1].messages)
    assert "Beatriz" not in bob_prompt


async def test_memory_commands_answer_without_the_model(wired: Wired) -> None:
    engine = wired.engine
    assert isinstance(engine, RecordingEngine)
    await wired.say("ana", "I live in Porto.")
    await wired.say("ana", "Actually, I moved to Lisbon.")
    served = len(engine.requests)

    listing = await wired.say("ana", "/memory")
    assert listing.text.startswith("What I remember about you")
    assert "1. They live in Lisbon" in listing.text and "Porto" not in listing.text
    assert listing.reply is not None and listing.reply.content == listing.text

    unknown = await wired.say("ana", "/forget 99")
    assert "no fact “99”" in unknown.text and "Nothing was changed" in unknown.text
    person = await person_of(wired, listing)
    assert len(await wired.memory.store.facts(person, "helper")) == 1

    fixed = await wired.say("ana", "/correct 1 They live in Lisbon, near the river")
    assert "Corrected" in fixed.text
    again = await wired.say("ana", "/memory")
    assert "1. They live in Lisbon, near the river" in again.text

    gone = await wired.say("ana", "/forget 1")
    assert gone.text.startswith("Forgotten")
    recall = await wired.memory.recall("helper", person, "where does she live lisbon")
    assert not any("Lisbon" in m.text for m in recall.chosen), "deleted, with its message"

    off = await wired.say("ana", "/memory off")
    assert "Memory is off" in off.text
    assert len(engine.requests) == served, "no command reached the model"
    await wired.say("ana", "My dog's name is Rex.")
    assert await wired.memory.store.facts(person, "helper") == []
    assert "Rex" not in "\n".join(m.content for m in engine.requests[-1].messages[:-1])
    await wired.say("ana", "/memory on")
    await wired.say("ana", "My dog's name is Rex.")
    assert [m.text for m in await wired.memory.store.facts(person, "helper")] == [
        "Their dog's name is Rex"
    ]
    everything = await wired.say("ana", "/forget all")
    assert "forgot everything" in everything.text
    assert len((await wired.memory.store.vector_set(person, "helper", False)).ids) == 0


async def person_of(wired: Wired, done: TurnFinished) -> str:
    assert done.reply is not None
    return (await wired.store.get_conversation(done.reply.conversation_id)).person_id
