"""The scripted engine: deterministic replies, limits, failure markers, artificial delay."""

from __future__ import annotations

import asyncio
import time

import pytest

from personae.engines.scripted import create_scripted_engine
from personae.errors import ConfigError, EngineUnavailable
from personae.settings import Settings
from personae.types import ChatMessage

from .conftest import collect, request

SYSTEM = ChatMessage("system", "You are a helper.")


async def test_reply_echoes_the_last_user_message_word_by_word() -> None:
    engine = await create_scripted_engine(Settings(), None)
    req = request(SYSTEM, ChatMessage("user", "  hello   there world "), max_tokens=50)
    chunks = await collect(engine, req)
    again = await collect(engine, req)
    assert chunks == again, "a pure function of the request"
    assert [c.text for c in chunks[:-1]] == ["echo:", " hello", " there", " world"]
    last = chunks[-1]
    assert last.finish_reason == "stop" and last.usage is not None
    assert last.usage.completion_tokens == 4
    assert last.usage.prompt_tokens == sum(await engine.count_tokens(req.messages)) == 4 + 4 + 3 + 4


async def test_max_tokens_cuts_with_length_and_stop_strings_cut_with_stop() -> None:
    engine = await create_scripted_engine(Settings(), None)
    long = await collect(engine, request(ChatMessage("user", "a b c d e f"), max_tokens=3))
    assert "".join(c.text for c in long) == "echo: a b"
    assert long[-1].finish_reason == "length"
    stopped = await collect(engine, request(ChatMessage("user", "a b STOP c"), stop=("STOP",)))
    assert "".join(c.text for c in stopped) == "echo: a b"
    assert stopped[-1].finish_reason == "stop"


async def test_prompt_marker_lists_the_roles_it_was_given() -> None:
    engine = await create_scripted_engine(Settings(), None)
    msgs = (SYSTEM, ChatMessage("user", "hi"), ChatMessage("assistant", "yo"))
    req = request(*msgs, ChatMessage("user", "[[engine-prompt]]"), max_tokens=20)
    text = "".join(c.text for c in await collect(engine, req))
    assert text == "prompt: system user assistant user"


async def test_failure_markers_raise_before_or_after_the_first_chunk() -> None:
    engine = await create_scripted_engine(Settings(), None)
    with pytest.raises(EngineUnavailable) as before:
        await collect(engine, request(ChatMessage("user", "boom [[engine-fail]]")))
    assert "scripted" in str(before.value) and before.value.retry_after == 1
    seen: list[str] = []
    with pytest.raises(EngineUnavailable):
        async for chunk in engine.generate(request(ChatMessage("user", "x [[engine-fail-mid]]"))):
            seen.append(chunk.text)
    assert seen == ["echo:"]


async def test_slow_model_streams_with_delay_and_requests_overlap() -> None:
    engine = await create_scripted_engine(Settings(), "slow:0.05")
    req = request(ChatMessage("user", "one two three"), max_tokens=10)  # 4 words: 0.2 s
    started = time.perf_counter()
    results = await asyncio.gather(*(collect(engine, req) for _ in range(4)))
    elapsed = time.perf_counter() - started
    assert all(r[-1].finish_reason == "stop" for r in results)
    assert 0.2 <= elapsed < 0.6, "four 0.2 s replies overlap instead of queueing"


async def test_bad_slow_model_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"slow:0\.05"):
        await create_scripted_engine(Settings(), "slow:fast")
