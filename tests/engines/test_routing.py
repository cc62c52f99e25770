"""The endpoints engine against real llama.cpp HTTP servers on loopback, one killed mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from personae.engines.routing import RoutingEngine, create_routing_engine
from personae.errors import EngineError, EngineUnavailable
from personae.metrics import REGISTRY
from personae.settings import Settings
from personae.types import ChatMessage, GenerationRequest

from .llama_servers import STRICT_TEMPLATE, LlamaServer, endpoints_yaml

PORTS = (21410, 21411)
DEAD = 21419  # nothing listens here


@pytest.fixture(scope="module")
def pair() -> Iterator[list[LlamaServer]]:
    servers = [LlamaServer(port).spawn() for port in PORTS]
    for server in servers:  # both load at once
        server.wait()
    yield servers
    for server in servers:
        server.kill()


def settings_for(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "endpoints.yaml"
    path.write_text(text)
    return Settings(home=tmp_path, endpoints=path, engine="endpoints", endpoint_health_s=30.0)


@pytest.fixture
async def routed(tmp_path: Path, pair: list[LlamaServer]) -> AsyncIterator[RoutingEngine]:
    settings = settings_for(tmp_path, endpoints_yaml("small", [s.base_url for s in pair]))
    engine = await create_routing_engine(settings, "small")
    assert isinstance(engine, RoutingEngine)
    yield engine
    await engine.aclose()


def ask(persona: str, text: str = "Say hello.", max_tokens: int = 6) -> GenerationRequest:
    messages = (ChatMessage("system", f"You are {persona}."), ChatMessage("user", text))
    return GenerationRequest(messages=messages, max_tokens=max_tokens, temperature=0.0, top_p=1.0)


async def reply(engine: RoutingEngine, request: GenerationRequest) -> str:
    return "".join([chunk.text async for chunk in engine.generate(request)])


def served(model: str, url: str) -> float:
    labels = {"model": model, "endpoint": url, "outcome": "ok"}
    return REGISTRY.get_sample_value("personae_engine_requests_total", labels) or 0.0


async def test_a_persona_keeps_its_endpoint_and_personas_spread(
    routed: RoutingEngine, pair: list[LlamaServer]
) -> None:
    urls = [s.base_url for s in pair]
    before = [served("small", u) for u in urls]
    for _ in range(4):
        assert await reply(routed, ask("Ada", max_tokens=2))
    after = [served("small", u) for u in urls]
    assert sorted(a - b for a, b in zip(after, before, strict=True)) == [0, 4]
    for i in range(12):
        await reply(routed, ask(f"persona number {i}", max_tokens=1))
    spread = [served("small", u) - a for u, a in zip(urls, after, strict=True)]
    assert min(spread) >= 2, spread  # rendezvous hashing shares personas between endpoints


async def test_a_full_endpoint_spills_over(tmp_path: Path, pair: list[LlamaServer]) -> None:
    text = endpoints_yaml("single", [s.base_url for s in pair], concurrency=1)
    engine = await create_routing_engine(settings_for(tmp_path, text), "single")
    urls = [s.base_url for s in pair]
    before = [served("single", u) for u in urls]
    await asyncio.gather(*(reply(engine, ask("Ada", max_tokens=12)) for _ in range(2)))
    assert [served("single", u) - b for u, b in zip(urls, before, strict=True)] == [1, 1]
    await engine.aclose()


async def test_a_dead_endpoint_fails_over_before_the_first_token(
    tmp_path: Path, pair: list[LlamaServer]
) -> None:
    dead = f"http://127.0.0.1:{DEAD}/v1"
    engine = await create_routing_engine(
        settings_for(tmp_path, endpoints_yaml("dead", [dead, pair[0].base_url])), "dead"
    )
    assert isinstance(engine, RoutingEngine)
    # A persona whose first choice is the dead endpoint (rendezvous ranking, deterministic).
    dead_first = next(
        f"persona {i}"
        for i in range(100)
        if engine.routes[0].score(f"You are persona {i}.".encode())
        > engine.routes[1].score(f"You are persona {i}.".encode())
    )
    assert await reply(engine, ask(dead_first, max_tokens=2))
    assert [r.up for r in engine.routes] == [False, True]  # the refused one is out
    assert "connection failed" in engine.routes[0].last_error
    await engine.aclose()


async def test_a_stream_killed_mid_reply_continues_elsewhere_without_repeating(
    routed: RoutingEngine, pair: list[LlamaServer]
) -> None:
    request = ask("Ada", "Tell me a long story about a cat.", max_tokens=40)
    whole = await reply(routed, request)  # uninterrupted, greedy: the reference
    pieces: list[str] = []
    final = None
    stream = routed.generate(request)
    async for chunk in stream:
        if chunk.finish_reason is not None:
            final = chunk
            continue
        pieces.append(chunk.text)
        if len(pieces) == 3:  # mid-reply: kill the endpoint that is streaming it
            serving = next(r for r in routed.routes if r.in_flight)
            victim = next(s for s in pair if s.base_url == serving.spec.base_url)
            victim.kill()
    text = "".join(pieces)
    assert final is not None and final.usage is not None
    assert text == whole, (text, whole)  # continued, not restarted: nothing said twice
    victim.start()  # the module's other tests get their pair back


async def test_every_endpoint_down_then_one_returns(tmp_path: Path) -> None:
    later = LlamaServer(21414, parallel=1)
    text = endpoints_yaml("gone", [later.base_url, "http://127.0.0.1:21415/v1"])
    engine = await create_routing_engine(settings_for(tmp_path, text), "gone")
    with pytest.raises(EngineUnavailable, match="every endpoint of model 'gone' is down"):
        await reply(engine, ask("Ada"))
    with pytest.raises(EngineUnavailable, match="every endpoint"):
        await engine.count_tokens(list(ask("Ada").messages))
    later.start()
    try:  # no wait for the next health round: a request finding none up checks at once
        assert await reply(engine, ask("Ada"))
    finally:
        later.kill()
        await engine.aclose()


async def test_strict_templates_get_alternating_turns(tmp_path: Path) -> None:
    server = LlamaServer(21416, parallel=1, template=STRICT_TEMPLATE).start()
    # The persona spoke first (its greeting): ChatML-style order breaks an alternating template.
    messages = (
        ChatMessage("system", "You are Ada."),
        ChatMessage("assistant", "Hello! I am Ada."),
        ChatMessage("user", "Hi Ada."),
        ChatMessage("user", "Say something."),
    )
    request = GenerationRequest(messages=messages, max_tokens=4, temperature=0.0, top_p=1.0)
    try:
        chatml = await create_routing_engine(
            settings_for(tmp_path, endpoints_yaml("m", [server.base_url])), "m"
        )
        with pytest.raises(EngineError, match="400"):
            await reply(chatml, request)  # type: ignore[arg-type]
        await chatml.aclose()
        text = endpoints_yaml("m", [server.base_url], template="strict")
        strict = await create_routing_engine(settings_for(tmp_path, text), "m")
        assert strict.info.template == "strict"
        assert await reply(strict, request)  # type: ignore[arg-type]
        assert len(await strict.count_tokens(messages)) == 4
        await strict.aclose()
    finally:
        server.kill()
