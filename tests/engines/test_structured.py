"""Structured output (response_format) and logprobs, through the engines that can, on the
real embedded model and a real llama.cpp HTTP server; the scripted engine says it cannot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from personae.contracts import Engine
from personae.engines.openai_compatible import create_openai_engine
from personae.engines.scripted import create_scripted_engine
from personae.errors import Unsupported
from personae.settings import Settings
from personae.types import ChatMessage, GenerationChunk, ResponseFormat

from .conftest import collect, request

ASK = (
    ChatMessage(
        "user", 'Answer in JSON with the keys "city" and "country": the capital of France?'
    ),
)
CITY = json.dumps(
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
)


@pytest.fixture
async def remote(llama_http: str) -> AsyncIterator[Engine]:
    engine = await create_openai_engine(Settings(openai_base_url=f"{llama_http}/v1"), "smollm2")
    yield engine
    await engine.aclose()


def _text(chunks: list[GenerationChunk]) -> str:
    return "".join(c.text for c in chunks)


async def test_json_object_from_the_embedded_model_parses(llama: Engine) -> None:
    chunks = await collect(
        llama, request(*ASK, max_tokens=120, response_format=ResponseFormat("json_object"))
    )
    assert chunks[-1].finish_reason == "stop", _text(chunks)
    assert isinstance(json.loads(_text(chunks)), dict)


async def test_json_schema_from_the_embedded_model_has_its_required_keys(llama: Engine) -> None:
    fmt = ResponseFormat("json_schema", CITY, "city", strict=True)
    chunks = await collect(llama, request(*ASK, max_tokens=120, response_format=fmt))
    assert set(json.loads(_text(chunks))) >= {"city", "country"}


async def test_a_schema_llama_cpp_cannot_follow_is_a_bad_request(llama: Engine) -> None:
    fmt = ResponseFormat("json_schema", json.dumps({"type": "no-such-type"}), "x")
    with pytest.raises(Unsupported) as caught:
        await collect(llama, request(*ASK, response_format=fmt))
    assert caught.value.param == "response_format"
    assert "no-such-type" in str(caught.value)


async def test_logprobs_from_the_embedded_model_cover_the_text(llama: Engine) -> None:
    chunks = await collect(llama, request(*ASK, max_tokens=12, logprobs=True, top_logprobs=3))
    tokens = [lp for c in chunks for lp in c.logprobs]
    assert len(tokens) == 12
    assert b"".join(bytes(t.bytes or ()) for t in tokens) == _text(chunks).encode()
    assert all(t.logprob <= 0.0 and len(t.top) == 3 for t in tokens)
    assert all(t.top[0].logprob >= t.top[1].logprob >= t.top[2].logprob for t in tokens)


async def test_the_openai_engine_forwards_response_format_and_logprobs(remote: Engine) -> None:
    assert remote.info.supports_response_format and remote.info.supports_logprobs
    fmt = ResponseFormat("json_schema", CITY, "city", strict=True)
    chunks = await collect(remote, request(*ASK, max_tokens=120, response_format=fmt))
    assert set(json.loads(_text(chunks))) >= {"city", "country"}
    chunks = await collect(remote, request(*ASK, max_tokens=6, logprobs=True, top_logprobs=2))
    tokens = [lp for c in chunks for lp in c.logprobs]
    assert len(tokens) == 6 and all(len(t.top) == 2 for t in tokens)


async def test_the_scripted_engine_says_it_has_neither() -> None:
    engine = await create_scripted_engine(Settings(), None)
    assert not engine.info.supports_response_format
    assert not engine.info.supports_logprobs
