"""Rolling summaries: once enough messages gather, the persona's engine (here the scripted
one, which echoes its prompt) writes a summary that retires the previous one and is built on
it; /memory lists the current one; an engine failure skips it and nothing is lost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from personae.embed import load_minilm
from personae.engines.scripted import create_scripted_engine
from personae.memory.service import MemoryService
from personae.memory.summary import summarize_if_due
from personae.settings import Settings
from personae.stores.memory import MemoryStore
from personae.stores.sql import SqlStore
from personae.types import Persona, PersonRef

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


async def test_summaries_roll_over_the_conversation(tmp_path: object) -> None:
    store = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path}/s.db")
    try:
        slug = f"sum-{uuid.uuid4().hex[:6]}"
        await store.put_persona(Persona.model_validate({"id": slug, "name": "M", "greeting": "hi"}))
        person = (await store.open_conversation(slug, PersonRef("api", "ana"))).person_id
        memory = MemoryService(MemoryStore(store.runner), load_minilm().embed)
        engine = await create_scripted_engine(Settings(), None)

        async def say(text: str) -> int | None:
            await memory.remember(slug, person, NOW, [(None, "Person", text), (None, "M", "ok")])
            return await summarize_if_due(memory, engine, None, slug, person, 4, NOW)

        assert await say("I adopted a kitten named Miso") is None, "not due after 2 messages"
        first = await say("We are planning a trip to Kyoto")
        assert first is not None
        [summary] = [m for m in await memory.store.facts(person, slug) if m.kind == "summary"]
        assert summary.id == first and "Miso" in summary.text and "Kyoto" in summary.text
        assert await say("Work was stressful this week") is None

        second = await say("My brother Leo visits in May")
        assert second is not None and second != first
        shown = [m for m in await memory.store.facts(person, slug) if m.kind == "summary"]
        assert [m.id for m in shown] == [second], "the newer summary retires the older"
        assert "Leo" in shown[0].text and "Miso" in shown[0].text, "built on the previous one"
        history = await memory.store.unsummarized(person, slug, 10)
        assert history[0] is not None and history[0].id == second and history[1] == []

        # The scripted engine fails when its prompt carries the marker: the summary is
        # skipped and the episodes wait for the next job.
        await memory.remember(slug, person, NOW, [(None, "Person", "[[engine-fail]] a"),
                                                  (None, "M", "b")])  # fmt: skip
        await memory.remember(slug, person, NOW, [(None, "Person", "c"), (None, "M", "d")])
        assert await summarize_if_due(memory, engine, None, slug, person, 4, NOW) is None
        assert len((await memory.store.unsummarized(person, slug, 10))[1]) == 4
    finally:
        await store.aclose()
