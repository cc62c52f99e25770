"""Every model endpoint down: the person gets one "give me a moment", and the turn completes
on the work queue's retry once an endpoint (a real llama.cpp server) comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from personae.contracts import Engine
from personae.core.turn import TURN, Busy, TurnRunner
from personae.engines.routing import create_routing_engine
from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.types import ModelSettings, Persona, PersonRef, ReplyRoute, TurnInput
from personae.work.events import LocalEventHub
from personae.work.local import LocalWorkQueue

from .llama_servers import LlamaServer, endpoints_yaml

BUSY = "One moment, I'm with you shortly!"


async def test_one_busy_reply_then_the_turn_completes_when_an_endpoint_returns(
    tmp_path: Path,
) -> None:
    store = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}")
    persona = {
        "id": "helper",
        "name": "Helper",
        "tagline": "Helps",
        "description": "Kind.",
        "greeting": "Hi!",
    }
    await store.put_persona(Persona.model_validate(persona))
    server = LlamaServer(21417, parallel=1)
    path = tmp_path / "endpoints.yaml"
    path.write_text(endpoints_yaml("small", [server.base_url]))
    settings = Settings(home=tmp_path, endpoints=path, engine="endpoints", endpoint_health_s=30)
    engine = await create_routing_engine(settings, "small")
    sent: list[tuple[ReplyRoute, str]] = []

    async def direct(route: ReplyRoute, text: str) -> None:
        sent.append((route, text))

    async def resolve(_: ModelSettings) -> Engine:
        return engine

    work = LocalWorkQueue(store, [TURN])
    runner = TurnRunner(
        personas=store, inbox=store, turns=store, work=work, events=LocalEventHub(),
        engines=resolve, max_message_chars=8000, engine_timeout_s=30.0, direct=direct,
        busy=Busy(BUSY, 0.3),
    )  # fmt: skip
    await work.serve(runner.process)
    route = ReplyRoute("telegram", "bot", "42")
    person = PersonRef("telegram:bot", "42")
    accepted = await runner.enqueue(TurnInput("helper", "hello?", person=person), route)
    try:
        await asyncio.sleep(1.5)  # several retries while nothing listens
        assert sent == [(route, BUSY)]  # once, not once per retry
        messages = await store.conversation_messages(accepted.conversation.id)
        assert [m.role for m in messages] == ["user"]
        await asyncio.to_thread(server.start)
        for _ in range(200):
            messages = await store.conversation_messages(accepted.conversation.id)
            if len(messages) == 2:
                break
            await asyncio.sleep(0.1)
        assert [m.role for m in messages] == ["user", "assistant"]
        assert messages[1].content and sent == [(route, BUSY)]
        [turn] = await store.conversation_turns(accepted.conversation.id)
        assert turn.status == "ok"
    finally:
        server.kill()
        await work.aclose()
        await engine.aclose()
        await store.aclose()
