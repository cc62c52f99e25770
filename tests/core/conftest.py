from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from personae.contracts import Engine
from personae.core.turn import TURN, TurnRunner
from personae.plugins import engine_factories
from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.types import (
    ChatMessage,
    GenerationChunk,
    GenerationRequest,
    ModelSettings,
    Persona,
)
from personae.work.events import LocalEventHub
from personae.work.local import LocalWorkQueue


def make_persona(slug: str = "helper", **fields: object) -> Persona:
    data: dict[str, object] = {
        "id": slug,
        "name": "Helper",
        "tagline": "Helps",
        "description": "A patient helper.",
        "greeting": "Hello! How can I help?",
    }
    data.update(fields)
    return Persona.model_validate(data)


class RecordingEngine:
    """A real engine (the shipped scripted one) that also keeps every request it served, and can
    be told to fail the next N requests: lets tests see the exact prompts and retry paths."""

    def __init__(self, inner: Engine, fail_next: int = 0) -> None:
        self.inner = inner
        self.info = inner.info
        self.requests: list[GenerationRequest] = []
        self.fail_next = fail_next
        self.counted: list[ChatMessage] = []  # every message handed to count_tokens

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        self.counted.extend(messages)
        return await self.inner.count_tokens(messages)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        from personae.errors import EngineUnavailable

        self.requests.append(request)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise EngineUnavailable("engine recording: told to fail", retry_after=1)
        async for chunk in self.inner.generate(request):
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 'core.db'}")
    yield opened
    await opened.aclose()


async def scripted(model: str | None = None) -> Engine:
    return await engine_factories()["scripted"](Settings(engine="scripted"), model)


@pytest.fixture
async def engine() -> AsyncIterator[RecordingEngine]:
    recording = RecordingEngine(await scripted())
    yield recording
    await recording.aclose()


async def runner_for(
    store: SqlStore, engine: Engine, *, serve: bool = True, **options: object
) -> TurnRunner:
    """A runner on the embedded work queue and event hub, as the runtime builds it; with
    ``serve`` False its jobs are recorded but nobody runs them (a crash before processing)."""

    async def resolve(_: ModelSettings) -> Engine:
        return engine

    settings: dict[str, object] = {"max_message_chars": 8000, "engine_timeout_s": 30.0}
    settings.update(options)
    work = LocalWorkQueue(store, [TURN])
    runner = TurnRunner(
        personas=store,
        inbox=store,
        turns=store,
        work=work,
        events=LocalEventHub(),
        engines=resolve,
        **settings,  # type: ignore[arg-type]
    )
    if serve:
        await work.serve(runner.process)
    return runner
