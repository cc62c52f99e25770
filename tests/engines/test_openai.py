"""The openai engine against a real llama.cpp HTTP server and a real failing server."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from personae.contracts import Engine
from personae.engines._wire import parse_retry_after
from personae.engines.openai_compatible import OpenAICompatibleEngine, create_openai_engine
from personae.errors import EngineError, EngineUnavailable
from personae.settings import Settings
from personae.types import ChatMessage

from .conftest import FailingServer, collect, request

HELLO = (ChatMessage("system", "You are terse."), ChatMessage("user", "Say hello to Ana."))


@pytest.fixture
async def remote(llama_http: str) -> AsyncIterator[Engine]:
    settings = Settings(openai_base_url=f"{llama_http}/v1", openai_api_key="sk-local")
    engine = await create_openai_engine(settings, "smollm2")
    yield engine
    await engine.aclose()


async def failing(server: FailingServer, model: str, **fields: Any) -> Engine:
    return await create_openai_engine(Settings(openai_base_url=server.url, **fields), model)


async def test_streams_from_a_real_llama_cpp_server(remote: Engine) -> None:
    chunks = await collect(remote, request(*HELLO, max_tokens=6))
    assert len([c for c in chunks if c.text]) >= 3
    last = chunks[-1]
    assert last.finish_reason == "length" and last.usage is not None
    assert last.usage.completion_tokens == 6 and last.usage.prompt_tokens > 10
    assert remote.info.model == "smollm2" and remote.info.context_window == 8192


async def test_counts_use_the_servers_tokenizer_and_template(remote: Engine) -> None:
    counts = await remote.count_tokens(HELLO)
    chunks = await collect(remote, request(*HELLO, max_tokens=1))
    assert chunks[-1].usage is not None
    assert abs(sum(counts) - chunks[-1].usage.prompt_tokens) <= 3
    assert isinstance(remote, OpenAICompatibleEngine) and not remote.estimating_tokens


async def test_busy_server_is_transient_and_honours_retry_after(
    failing_server: FailingServer,
) -> None:
    engine = await failing(failing_server, "busy", openai_api_key="sk-test")
    with pytest.raises(EngineUnavailable) as error:
        await collect(engine, request(*HELLO))
    assert error.value.retry_after == 7 and "overloaded, try later" in str(error.value)
    assert "503" in str(error.value) and failing_server.url in str(error.value)
    _path, headers, _body = failing_server.seen[-1]
    assert headers["authorization"] == "Bearer sk-test"
    await engine.aclose()


async def test_rate_limit_without_retry_after_uses_the_default(
    failing_server: FailingServer,
) -> None:
    engine = await failing(failing_server, "limited")
    with pytest.raises(EngineUnavailable) as error:
        await collect(engine, request(*HELLO))
    assert error.value.retry_after == 5 and "rate limited" in str(error.value)
    await engine.aclose()


async def test_client_error_carries_the_servers_message(failing_server: FailingServer) -> None:
    engine = await failing(failing_server, "nonexistent")
    with pytest.raises(EngineError) as error:
        await collect(engine, request(*HELLO))
    assert not isinstance(error.value, EngineUnavailable)
    assert "model 'nonexistent' not found" in str(error.value) and "400" in str(error.value)
    await engine.aclose()


@pytest.mark.parametrize("model", ["cut", "broken"])
async def test_a_stream_that_breaks_is_transient(failing_server: FailingServer, model: str) -> None:
    engine = await failing(failing_server, model)
    with pytest.raises(EngineUnavailable):
        await collect(engine, request(*HELLO))
    await engine.aclose()


async def test_timeouts_and_refused_connections_are_transient(
    failing_server: FailingServer,
) -> None:
    slow = await failing(failing_server, "hang", engine_timeout_s=0.2)
    with pytest.raises(EngineUnavailable, match="in time"):
        await collect(slow, request(*HELLO))
    await slow.aclose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(openai_base_url=f"http://127.0.0.1:{port}/v1")
    refused = await create_openai_engine(settings, None)
    with pytest.raises(EngineUnavailable, match="connection failed"):
        await collect(refused, request(*HELLO))
    await refused.aclose()


async def test_without_a_tokenizer_counts_are_a_conservative_estimate(
    failing_server: FailingServer,
) -> None:
    engine = await failing(failing_server, "any")
    counts = await engine.count_tokens(HELLO)
    expected = [math.ceil(len(m.content.encode()) / 3) + 4 for m in HELLO]
    assert counts == expected
    assert isinstance(engine, OpenAICompatibleEngine) and engine.estimating_tokens
    probes = len(failing_server.seen)
    await engine.count_tokens(HELLO)
    assert len(failing_server.seen) == probes, "the fallback is remembered"
    await engine.aclose()


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after(None) == 5 and parse_retry_after("soon") == 5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= parse_retry_after(later) <= 31
