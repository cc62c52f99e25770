"""One client's huge stateless history must not stall the server (issue 5, finding 1).

The counting path is the real one: the embedded llama.cpp engine (persona ``tiny-llama``), whose
tokenizer is reached over llama.cpp's own HTTP API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .live import LiveServer, start_server, write_personas

# Far below the old behaviour (/healthz stalled for 90 s), with room for a loaded 2-core
# machine: alone it answers in 25 ms, but with two other test workers and llama.cpp's
# threads taking the cores, one probe once took 1.22 s (CPU starvation, not a stall).
HEALTHZ_LIMIT_S = 3.0
TURN_LIMIT_S = 90.0


def _history_body(model: str, count: int) -> dict[str, Any]:
    """``count`` short alternating messages, ending with the user's new one."""
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message number {i}"}
        for i in range(count - 1)
    ]
    messages.append({"role": "user", "content": "Say hi."})
    return {"model": model, "messages": messages, "max_tokens": 4, "temperature": 0.0}


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose message cap is raised, so thousands of messages reach token counting.

    The smallest context window keeps the model's own prompt work short on a busy machine.
    """
    from personae.settings import Settings

    home = tmp_path_factory.mktemp("roomy")
    settings = Settings(
        home=home, engine="scripted", load_samples=False, parallel=1, context_window=256,
        threads=2, personas_dir=write_personas(home / "personas"), max_messages=20_000,
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


async def _poll_healthz(client: httpx.AsyncClient, stop: asyncio.Event) -> list[float]:
    """Seconds each /healthz took while ``stop`` is unset (a timeout counts as the limit)."""
    took: list[float] = []
    while not stop.is_set():
        start = time.perf_counter()
        try:
            response = await client.get("/healthz", timeout=HEALTHZ_LIMIT_S * 2)
            assert response.status_code == 200
        except httpx.TimeoutException:
            pass
        took.append(time.perf_counter() - start)
        await asyncio.sleep(0.05)
    return took


async def test_thousands_of_messages_neither_stall_healthz_nor_time_out(
    roomy: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=roomy.url, timeout=TURN_LIMIT_S) as client:
        # Warm the embedded engine first: loading the model is not what is measured.
        warm = await client.post("/v1/chat/completions", json=_history_body("tiny-llama", 1))
        assert warm.status_code == 200, warm.text
        stop = asyncio.Event()
        poller = asyncio.create_task(_poll_healthz(client, stop))
        start = time.perf_counter()
        try:
            response = await client.post(
                "/v1/chat/completions",
                json=_history_body("tiny-llama", 6_000),
            )
        finally:
            elapsed = time.perf_counter() - start
            stop.set()
            took = await poller
        assert response.status_code == 200, response.text
        assert elapsed < TURN_LIMIT_S / 2, f"the long-history turn took {elapsed:.1f} s"
        assert took and max(took) < HEALTHZ_LIMIT_S, f"/healthz took up to {max(took):.2f} s"


def test_more_messages_than_the_cap_get_a_400_naming_messages(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json=_history_body("echo-friend", 1_001))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "messages"
    assert error["type"] == "invalid_request_error"
    assert "1001" in error["message"] and "PERSONAE_MAX_MESSAGES" in error["message"]
