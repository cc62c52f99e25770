"""Delivery tests: a real store (SQLite and PostgreSQL), the loopback Graph/Bot API server,
the runtime with the scripted engine, and helpers to create channel turns and wait for them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, update

from channels.platform import GRAPH_VERSION, PlatformServer
from personae.runtime import Runtime
from personae.settings import Settings
from personae.stores.tables import messages, utcnow
from personae.types import OutboxEntry, PersonRef, ReplyRoute, TurnInput
from stores.conftest import BACKENDS, fresh_postgres_database, postgres_base_url

PERSONA = "spanish-tutor"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql":
        postgres_base_url()
    return name


@pytest.fixture
async def database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'personae.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def platform() -> AsyncIterator[PlatformServer]:
    state = PlatformServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state


@dataclass
class Bench:
    """Starts runtimes over one database and platform server; creates channel turns."""

    settings: Settings

    @asynccontextmanager
    async def runtime(self, deliver: bool = True) -> AsyncIterator[Runtime]:
        runtime = await Runtime.start(self.settings, warm=False, resume=deliver)
        try:
            yield runtime
        finally:
            await runtime.aclose()

    async def turn(
        self, runtime: Runtime, kind: str, key: str, chat: str, text: str, mid: str
    ) -> str:
        """A channel message accepted and queued the way a webhook does; its conversation id."""
        person = PersonRef(f"{kind}:{key}", chat)
        turn = TurnInput(persona=PERSONA, text=text, person=person, external_id=mid)
        accepted = await runtime.turns.enqueue(turn, route=ReplyRoute(kind, key, chat))
        return accepted.conversation.id


@pytest.fixture
def bench(database: str, platform: PlatformServer, tmp_path: Path) -> Bench:
    settings = Settings(
        home=tmp_path / "home", engine="scripted", database_url=database,
        graph_api_base=platform.url, graph_api_version=GRAPH_VERSION,
        telegram_api_base=platform.url, delivery_backoff_s=0.05, delivery_poll_s=0.2,
        delivery_timeout_s=0.5, delivery_max_attempts=5, delivery_confirm_wait_s=0.3,
    )  # fmt: skip
    return Bench(settings)


async def settled(
    runtime: Runtime,
    conversation_id: str,
    count: int,
    timeout_s: float = 15.0,
    done: Callable[[OutboxEntry], bool] = lambda e: e.status in ("sent", "failed"),
) -> list[OutboxEntry]:
    """The conversation's outbox once it holds ``count`` rows, each ``done``."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await runtime.deliveries.entries(conversation_id)
        if len(rows) >= count and all(done(r) for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox did not settle: {rows}")
        await asyncio.sleep(0.05)


def backdate_inbound(hours: float) -> Callable[[Connection], Any]:
    """The person's messages as if written ``hours`` ago: the window has closed since."""

    def run(conn: Connection) -> None:
        from datetime import timedelta

        with conn.begin():
            then = utcnow() - timedelta(hours=hours)
            conn.execute(update(messages).where(messages.c.role == "user").values(created_at=then))

    return run
