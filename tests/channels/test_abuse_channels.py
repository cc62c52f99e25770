"""Abuse limits on a messaging channel: the platform always gets its 200 (a 429 would make Meta
resend, and after an hour of failures unsubscribe the app), every message is stored at once,
and the turns over the limit wait and run as the rate allows, in order: nothing is lost."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from personae.settings import Settings
from server.live import LiveServer, start_server, write_personas

from .harness import HARNESSES
from .platform import GRAPH_VERSION, PlatformServer
from .test_webhook_server import _channels_file, platform, post, rows, until

WA = HARNESSES[0]
__all__ = ["platform"]


@pytest.fixture
async def slow(platform: PlatformServer, tmp_path: Path) -> AsyncIterator[LiveServer]:
    settings = Settings(
        home=tmp_path, engine="scripted", load_samples=False, admin_token="t" * 20,
        personas_dir=write_personas(tmp_path / "personas"), channels=_channels_file(tmp_path),
        graph_api_base=platform.url, graph_api_version=GRAPH_VERSION,
        telegram_api_base=platform.url,
        rate_person_per_min=60.0, rate_person_burst=1,  # one turn a second per person
    )  # fmt: skip
    live = await asyncio.to_thread(start_server, settings)
    yield live
    await asyncio.to_thread(live.stop)


async def test_a_burst_is_stored_at_once_and_answered_at_the_rate_in_order(
    slow: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=slow.url, timeout=30) as web:
        started = time.monotonic()
        answers = [await post(web, WA, WA.text_update(f"m{i}", f"wamid.R{i}")) for i in range(3)]
        assert [a.status_code for a in answers] == [200] * 3, "never a 429 to the platform"
        stored = rows(slow, "SELECT content FROM messages WHERE role = 'user' ORDER BY id")
        assert stored == [("m0",), ("m1",), ("m2",)], "stored before the 200"
        await until(slow, "SELECT id FROM outbox", 1, timeout_s=5)
        assert len(rows(slow, "SELECT id FROM outbox")) == 1, "the others wait for tokens"
        found = await until(slow, "SELECT payload FROM outbox ORDER BY id", 3, timeout_s=20)
        elapsed = time.monotonic() - started
    assert [json.loads(p)["text"] for (p,) in found] == ["echo: m0", "echo: m1", "echo: m2"]
    assert elapsed >= 1.9, f"three turns at one a second took only {elapsed:.2f} s"
