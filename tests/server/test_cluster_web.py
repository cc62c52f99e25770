"""A cluster's web node against a real server on loopback and real PostgreSQL: it loads no
model, /readyz reports its store and queue, it answers new webhooks 503 + Retry-After while
the database is unreachable (a TCP proxy cut in front of PostgreSQL), 200 again once it is
back, and 503 when too much work waits. Needs PERSONAE_TEST_POSTGRES_URL (skips without)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from channels.harness import APP_SECRET, VERIFY_TOKEN, meta_bytes, wa_messages
from channels.platform import GRAPH_VERSION, PHONE_ID, WA_TOKEN
from personae.channels.webhook import sign
from personae.server import create_app
from personae.settings import Settings
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
    print("T start", time.monotonic())
    url, server, thread, app = await asyncio.to_thread(_serve, settings)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=15) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"store": True, "queue": True, "events": True}
            body, headers = _webhook(1)
            first = await client.post("/webhooks/whatsapp", content=body, headers=headers)
            assert first.status_code == 200, first.text

            print("T ready", time.monotonic())
            await proxy.down()
            body, headers = _webhook(2)
            cut = await client.post("/webhooks/whatsapp", content=body, headers=headers)
            assert cut.status_code == 503, cut.text
            assert int(cut.headers["retry-after"]) >= 1
            assert (await client.get("/healthz")).status_code == 200, "alive all the same"
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503 and not_ready.json()["checks"]["store"] is False

            print("T cut", time.monotonic())
            await proxy.up()  # back: the same webhook, redelivered, is taken
            async with asyncio.timeout(30):
                while (  # noqa: ASYNC110 (a redelivery loop, as the platform retries)
                    again := await client.post("/webhooks/whatsapp", content=body, headers=headers)
                ).status_code != 200:
                    await asyncio.sleep(0.2)
            assert again.status_code == 200
            print("T back", time.monotonic())
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
            print("T ready", time.monotonic())
            await proxy.down()
