"""GET /api/conversations/{id} (admin) shows each reply part's outbox entry, on a real server."""

from __future__ import annotations

import asyncio
import socket

import httpx
import uvicorn
from pydantic import SecretStr

from channels.harness import WA_USER
from channels.platform import PHONE_ID, PlatformServer, graph_error
from personae.server.app import create_app

from .conftest import Bench, settled
from .test_delivery import connect, whatsapp

ADMIN = "delivery-admin-token"


async def test_the_conversation_shows_its_deliveries(
    bench: Bench, platform: PlatformServer
) -> None:
    bench.settings = bench.settings.model_copy(update={"admin_token": SecretStr(ADMIN)})
    platform.fail_next = [graph_error(500, 2, "An unexpected error has occurred.")]
    async with bench.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        conv = await bench.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "seen?", "wamid.api")
        [row] = await settled(runtime, conv, 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(create_app(bench.settings, runtime=runtime), log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
                await asyncio.sleep(0.02)
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/conversations/{conv}"
            async with httpx.AsyncClient() as client:
                shown = await client.get(url, headers={"Authorization": f"Bearer {ADMIN}"})
                anonymous = await client.get(url)
        finally:
            server.should_exit = True
            await task
    assert anonymous.status_code in (401, 403)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    reply = next(m for m in body["messages"] if m["role"] == "assistant")
    [delivery] = body["deliveries"]
    assert delivery["message_id"] == reply["id"] and delivery["id"] == row.id
    assert delivery["status"] == "sent" and delivery["attempts"] == 2
    assert delivery["platform_message_id"] == row.platform_message_id
    assert delivery["channel"] == "whatsapp" and delivery["chat_id"] == WA_USER
    assert delivery["sent_at"] and delivery["created_at"] and delivery["error_code"] is None
    assert "text" not in delivery
