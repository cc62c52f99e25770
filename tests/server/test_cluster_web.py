"""A cluster's web node against a real server on loopback and real PostgreSQL: it loads no
model, /readyz reports its store and queue, it answers new webhooks 503 + Retry-After while
the database is unreachable (a TCP proxy cut in front of PostgreSQL), 200 again once it is
back, and 503 when too much work waits. Needs PERSONAE_TEST_POSTGRES_URL (skips without)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from channels.harness import APP_SECRET, VERIFY_TOKEN, meta_bytes, wa_messages
from channels.platform import GRAPH_VERSION, PHONE_ID, WA_TOKEN
from personae.channels.webhook import sign
from personae.runtime import Runtime
from personae.server import create_app
from personae.settings import Settings
from personae.types import PersonRef, TextDelta, TurnFinished, TurnInput
from server.live import write_personas

pytest.importorskip("procrastinate", reason="the cluster extra: pip install 'personae[cluster]'")
from stores.conftest import fresh_postgres_database, postgres_base_url


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut (every connection dropped, none accepted)
    and restored on the same port: a database restart as the web node sees it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    postgres_base_url()
    async with fresh_postgres_database() as url:
        yield url


def _channels(folder: Path, graph: str) -> Path:
    path = folder / "channels.yaml"
    path.write_text(textwrap.dedent(f"""
        whatsapp:
          - persona: echo-friend
            phone_number_id: "{PHONE_ID}"
            access_token: {WA_TOKEN}
            app_secret: {APP_SECRET}
            verify_token: {VERIFY_TOKEN}
        """), encoding="utf-8")  # fmt: skip
    return path


def _serve(settings: Settings) -> tuple[str, uvicorn.Server, threading.Thread, FastAPI]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = create_app(settings, role="web")
    config = uvicorn.Config(app, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web node did not start"
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread, app


def _webhook(n: int) -> tuple[bytes, dict[str, str]]:
    message = {"from": "16505551234", "id": f"wamid.CLUSTER{n}", "timestamp": "1700000000",
               "type": "text", "text": {"body": f"hello {n}"}}  # fmt: skip
    body = meta_bytes(wa_messages(message))
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}


async def test_web_node_answers_503_while_the_database_is_away(tmp_path: Path, pg_url: str) -> None:
    real = make_url(pg_url)
    proxy = Proxy((real.host or "127.0.0.1", real.port or 5432))
    await proxy.up()
    settings = Settings(
        home=tmp_path, engine="scripted", load_samples=False, admin_token="t" * 20,
        personas_dir=write_personas(tmp_path / "personas"),
        channels=_channels(tmp_path, "http://127.0.0.1:9"), graph_api_version=GRAPH_VERSION,
        database_url=real.set(port=proxy.port).render_as_string(hide_password=False),
        queue="procrastinate", queue_max_depth=3, rate_person_per_min=0,
    )  # fmt: skip
    url, server, thread, app = await asyncio.to_thread(_serve, settings)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=15) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"store": True, "queue": True, "events": True}
            body, headers = _webhook(1)
            first = await client.post("/webhooks/whatsapp", content=body, headers=headers)
            assert first.status_code == 200, first.text

            await proxy.down()
            body, headers = _webhook(2)
            cut = await client.post("/webhooks/whatsapp", content=body, headers=headers)
            assert cut.status_code == 503, cut.text
            assert int(cut.headers["retry-after"]) >= 1
            assert (await client.get("/healthz")).status_code == 200, "alive all the same"
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503 and not_ready.json()["checks"]["store"] is False

            await proxy.up()  # back: the same webhook, redelivered, is taken
            async with asyncio.timeout(30):
                again = await client.post("/webhooks/whatsapp", content=body, headers=headers)
                while again.status_code != 200:  # Meta's redelivery, until it is taken
                    await asyncio.sleep(0.2)
                    again = await client.post("/webhooks/whatsapp", content=body, headers=headers)
            assert again.status_code == 200
            # No worker runs: the two accepted messages wait; past the depth, 503.
            for n in (3, 4):
                body, headers = _webhook(n)
                await client.post("/webhooks/whatsapp", content=body, headers=headers)
            await asyncio.sleep(1.1)  # the depth is read at most once a second
            body, headers = _webhook(5)
            full = await client.post("/webhooks/whatsapp", content=body, headers=headers)
            assert full.status_code == 503 and "wait for the workers" in full.text
            assert full.headers["retry-after"] == "5"
        runtime = app.state.personae.runtime
        assert runtime.role == "web" and runtime.engines._engines == {}, "no model loaded"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 60)
        with contextlib.suppress(Exception):
            await proxy.down()


async def test_a_stream_cut_off_from_its_events_catches_up_from_the_store(
    tmp_path: Path, pg_url: str
) -> None:
    """The web node's database connections drop mid-turn (its LISTEN with them) while a
    `personae worker` process finishes the turn: the events sent meanwhile are gone, and once
    the node listens again it reads the turn back from the store, so the stream ends with the
    whole reply (no word twice, none missing) instead of waiting forever."""
    real = make_url(pg_url)
    proxy = Proxy((real.host or "127.0.0.1", real.port or 5432))
    await proxy.up()
    through_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    settings = Settings(
        home=tmp_path, database_url=through_proxy, queue="procrastinate", engine="scripted",
        memory=False, load_samples=True,
    )  # fmt: skip
    web = await Runtime.start(settings, role="web")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env.update(
        PERSONAE_HOME=str(tmp_path), PERSONAE_DATABASE_URL=pg_url, PERSONAE_MEMORY="false",
        PERSONAE_QUEUE="procrastinate", PERSONAE_ENGINE="scripted", PERSONAE_MODEL="slow:0.2",
    )  # fmt: skip
    cli = [sys.executable, "-c", "from personae.cli import main; main()", "worker"]
    worker = await asyncio.create_subprocess_exec(
        *cli, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    words = "one two three four five six seven eight nine ten"
    try:
        slug = (await web.store.list_personas())[0].persona.id
        turn = TurnInput(slug, words, PersonRef("t", "kim"))
        text: list[str] = []
        finished: list[TurnFinished] = []
        async with asyncio.timeout(120):  # a loaded 2-core machine; it stalls forever
            stream = web.turns.run(turn)
            async for event in stream:
                if isinstance(event, TextDelta):
                    text.append(event.text)
                    if len(text) == 2:  # mid-reply: the node loses the database
                        await proxy.down()
                        await _until_answered(pg_url)  # the worker finished meanwhile
                        await proxy.up()
                if isinstance(event, TurnFinished):
                    finished.append(event)
        assert finished, "the stream ended without its TurnFinished"
        assert finished[0].text.endswith(f"echo: {words}")  # after the AI disclosure
        assert "".join(text) == finished[0].text, text
    finally:
        worker.terminate()
        await worker.wait()
        await web.aclose()
        with contextlib.suppress(Exception):
            await proxy.down()


async def _until_answered(url: str) -> None:
    """Returns once a reply is stored (written by the worker process, so polled)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    query = "SELECT count(*) FROM messages WHERE reply_to IS NOT NULL"
    try:
        async with asyncio.timeout(30):
            answered = await conn.fetchval(query)
            while not answered:
                await asyncio.sleep(0.1)
                answered = await conn.fetchval(query)
    finally:
        await conn.close()
