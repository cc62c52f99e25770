"""The real embedded model (SmolLM2-135M via llama.cpp) answering through the openai SDK."""

from __future__ import annotations

from openai import OpenAI

from .live import LiveServer


def test_embedded_model_through_the_openai_sdk(live: LiveServer) -> None:
    sdk = OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0, timeout=300)
    stream = sdk.chat.completions.create(
        model="tiny-llama",
        messages=[{"role": "user", "content": "Say hello in one short sentence."}],
        max_tokens=16,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip(), "the model produced no text"
    usage = chunks[-1].usage
    assert usage is not None and 0 < usage.completion_tokens <= 16
    assert usage.prompt_tokens > 10
