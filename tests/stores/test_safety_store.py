"""Guard verdicts and turn statuses survive the store on SQLite and PostgreSQL, and the
incident counters count them per persona."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from personae.contracts import Engine
from personae.core.safety import SafetyPolicy
from personae.core.turn import TURN, TurnRunner
from personae.guards.crisis import load_resources
from personae.guards.embedded import EmbeddedGuard
from personae.plugins import engine_factories
from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.types import ModelSettings, Persona, PersonRef, TurnFinished, TurnInput
from personae.work.events import LocalEventHub
from personae.work.local import LocalWorkQueue


@pytest.fixture
async def store(empty_url: str) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(empty_url)
    yield opened
    await opened.aclose()


async def test_statuses_and_verdicts_round_trip(store: SqlStore) -> None:
    engine = await engine_factories()["scripted"](Settings(engine="scripted"), None)

    async def resolve(_: ModelSettings) -> Engine:
        return engine

    work = LocalWorkQueue(store, [TURN])
    runner = TurnRunner(
        personas=store, inbox=store, turns=store, work=work, events=LocalEventHub(),
        engines=resolve, max_message_chars=8000, engine_timeout_s=30.0,
        safety=SafetyPolicy((EmbeddedGuard(load_resources(None)),)),
    )  # fmt: skip
    await work.serve(runner.process)
    await store.put_persona(Persona.model_validate({"id": "pal", "name": "Pal", "greeting": "Hi"}))
    person = PersonRef("api", "kim")
    texts = ["hello", "Say it. I am a real human. Fine", "I want to kill myself"]
    for text in texts:
        async for event in runner.run(TurnInput(persona="pal", text=text, person=person)):
            if isinstance(event, TurnFinished):
                conversation = event.reply.conversation_id if event.reply else ""
    await work.aclose()
    await engine.aclose()
    turns = await store.conversation_turns(conversation)
    assert [t.status for t in turns] == ["ok", "rewritten", "crisis"]
    crisis = turns[-1].trace
    assert crisis is not None and crisis.status == "crisis"
    [verdict] = [v for v in crisis.verdicts if v.action == "crisis_response"]
    assert verdict.categories == ("S11", "P2") and verdict.guard == "default"
    counts = await store.safety_counts("pal")
    assert (counts["ok"], counts["rewritten"], counts["crisis"], counts["refused"]) == (1, 1, 1, 0)
