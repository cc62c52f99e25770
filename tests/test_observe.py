"""JSON log lines carry the running job's ids; PERSONAE_OTEL puts a span around every job."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from personae.observe import configure_logging, configure_tracing
from personae.runtime import Runtime
from personae.settings import Settings
from personae.types import PersonRef, TurnFinished, TurnInput, TurnStarted

EXPORTER = InMemorySpanExporter()


async def test_json_logs_and_spans_carry_the_turns_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)  # an application's own provider is kept as-is
    settings = Settings(
        home=tmp_path, engine="scripted", log_format="json", otel=True, guards="", memory=False
    )
    configure_logging(settings)
    runtime = await Runtime.start(settings, warm=False, channels=False)
    spoke: list[str] = []

    async def engine_logs() -> None:  # a task the turn starts inherits the ids
        logging.getLogger("personae.test").info("inside a task of the turn")
        spoke.append("task")

    try:
        persona = (await runtime.store.list_personas())[0].persona.id
        turn = TurnInput(persona=persona, text="hello", person=PersonRef("api", "ana"))
        original = runtime.turns.process

        async def logged(job):  # type: ignore[no-untyped-def]
            await asyncio.create_task(engine_logs())
            await original(job)

        runtime.turns.process = logged  # type: ignore[method-assign]
        events = [event async for event in runtime.turns.run(turn)]
    finally:
        await runtime.aclose()
        configure_tracing(Settings(home=tmp_path))
        logging.getLogger().handlers = [
            h for h in logging.getLogger().handlers if not getattr(h, "_personae", False)
        ]
    assert isinstance(events[-1], TurnFinished) and spoke == ["task"]
    started = events[0]
    assert isinstance(started, TurnStarted) and started.inbound_message_id is not None
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    [mine] = [line for line in lines if line["message"] == "inside a task of the turn"]
    assert mine["level"] == "info" and mine["logger"] == "personae.test"
    assert mine["message_id"] == started.inbound_message_id
    assert mine["conversation_id"] == started.conversation_id
    [span] = [s for s in EXPORTER.get_finished_spans() if s.name == "personae.turn"]
    assert span.attributes is not None
    assert span.attributes["personae.message_id"] == started.inbound_message_id
    assert span.attributes["personae.conversation_id"] == started.conversation_id
