"""The OpenAI-compatible API, driven by the official openai SDK and raw HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from .live import LiveServer


@pytest.fixture
def sdk(live: LiveServer) -> OpenAI:
    # max_retries=0: the SDK would otherwise retry 503s and hide them from the test.
    return OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0, timeout=60)


def conversations_of(admin: httpx.Client, persona: str, user: str) -> list[dict[str, Any]]:
    # No API key on this server: an unauthenticated /v1 caller's people are the client "local".
    params = {"persona": persona, "user": user, "channel": "openai", "client": "local"}
    found: list[dict[str, Any]] = admin.get("/api/conversations", params=params).json()[
        "conversations"
    ]
    return found


def messages_of(admin: httpx.Client, conversation_id: str) -> list[tuple[str, str]]:
    body = admin.get(f"/api/conversations/{conversation_id}").json()
    return [(m["role"], m["content"]) for m in body["messages"]]


def test_models_lists_published_personas(sdk: OpenAI) -> None:
    ids = {model.id for model in sdk.models.list()}
    assert {"echo-friend", "story-teller", "cooking-coach"} <= ids
    assert "hidden-draft" not in ids
    model = sdk.models.retrieve("echo-friend")
    assert (model.id, model.owned_by, model.object) == ("echo-friend", "personae", "model")
    assert model.created > 1_600_000_000
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("hidden-draft")


def test_non_streamed_completion(sdk: OpenAI) -> None:
    done = sdk.chat.completions.create(
        model="echo-friend", messages=[{"role": "user", "content": "hello   there"}]
    )
    assert done.id.startswith("chatcmpl-")
    assert done.object == "chat.completion"
    assert done.choices[0].message.role == "assistant"
    assert done.choices[0].message.content == "echo: hello there"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.completion_tokens == 3
    assert done.usage.total_tokens == done.usage.prompt_tokens + 3


def test_streamed_completion_with_usage(sdk: OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="echo-friend",
        messages=[{"role": "user", "content": [{"type": "text", "text": "one two three"}]}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


def test_options_are_honoured(sdk: OpenAI) -> None:
    words = [f"w{i}" for i in range(20)]
    cut = sdk.chat.completions.create(
        model="echo-friend",
        messages=[{"role": "user", "content": " ".join(words)}],
        max_tokens=16,
        temperature=0.1,
        top_p=0.5,
        seed=7,
        extra_body={"presence_penalty": 0.2, "logit_bias": {}},
    )
    assert cut.choices[0].message.content == "echo: " + " ".join(words[:15])
    assert cut.choices[0].finish_reason == "length"
    stopped = sdk.chat.completions.create(
        model="echo-friend",
        messages=[{"role": "user", "content": "a b STOP c"}],
        stop=["STOP", "zzz"],
        max_completion_tokens=50,
    )
    assert stopped.choices[0].message.content == "echo: a b"


def test_same_user_keeps_one_conversation(sdk: OpenAI, admin: httpx.Client) -> None:
    for text in ("first message", "second message"):
        sdk.chat.completions.create(
            model="echo-friend",
            user="alice",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "assistant", "content": "ignored: the server keeps the history"},
                {"role": "user", "content": text},
            ],
        )
    found = conversations_of(admin, "echo-friend", "alice")
    assert len(found) == 1
    assert messages_of(admin, found[0]["id"]) == [
        ("user", "first message"),
        ("assistant", "echo: first message"),
        ("user", "second message"),
        ("assistant", "echo: second message"),
    ]


def test_trailing_user_messages_are_joined(sdk: OpenAI, admin: httpx.Client) -> None:
    sdk.chat.completions.create(
        model="echo-friend",
        user="bea",
        messages=[{"role": "user", "content": "part one"}, {"role": "user", "content": "part two"}],
    )
    found = conversations_of(admin, "echo-friend", "bea")
    assert messages_of(admin, found[0]["id"])[0] == ("user", "part one\n\npart two")


def test_stateless_call_stores_nothing(sdk: OpenAI, admin: httpx.Client) -> None:
    before = admin.get("/api/conversations", params={"limit": 500}).json()["conversations"]
    done = sdk.chat.completions.create(
        model="echo-friend",
        messages=[
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "echo: earlier"},
            {"role": "user", "content": "[[engine-prompt]]"},
        ],
    )
    # The client's history reaches the engine: persona prompt, then user, assistant, user.
    assert done.choices[0].message.content.endswith("user assistant user")  # type: ignore[union-attr]
    after = admin.get("/api/conversations", params={"limit": 500}).json()["conversations"]
    assert after == before


def test_errors_have_openai_shape_and_status(sdk: OpenAI, live: LiveServer) -> None:
    user = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="nobody", messages=user)  # type: ignore[arg-type]
    assert missing.value.code == "model_not_found" and "nobody" in missing.value.message
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="nobody", messages=user, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as many:
        sdk.chat.completions.create(model="echo-friend", messages=user, n=2)  # type: ignore[arg-type]
    assert many.value.param == "n"
    too_long = [{"role": "user", "content": "x" * 501}]
    with pytest.raises(openai.APIStatusError) as large:
        sdk.chat.completions.create(model="echo-friend", messages=too_long)  # type: ignore[arg-type]
    assert large.value.status_code == 413 and "500" in large.value.message


def test_bad_bodies_are_400_naming_the_problem(client: httpx.Client) -> None:
    raw = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert raw.status_code == 400
    assert "not valid JSON" in raw.json()["error"]["message"]
    schema = client.post("/v1/chat/completions", json={"model": "echo-friend", "messages": "hi"})
    assert schema.status_code == 400
    error = schema.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == "messages" and "messages" in error["message"]
    role = client.post(
        "/v1/chat/completions",
        json={"model": "echo-friend", "messages": [{"role": "wizard", "content": "x"}]},
    )
    assert role.status_code == 400 and role.json()["error"]["param"] == "messages.0.role"
    last = client.post(
        "/v1/chat/completions",
        json={"model": "echo-friend", "messages": [{"role": "assistant", "content": "x"}]},
    )
    assert last.status_code == 400 and "last non-system message" in last.json()["error"]["message"]
    image = {"type": "image_url", "image_url": {"url": "https://example.org/a.png"}}
    parts = client.post(
        "/v1/chat/completions",
        json={"model": "echo-friend", "messages": [{"role": "user", "content": [image]}]},
    )
    # Remote image URLs are off by default: refused, naming the part and the setting.
    error = parts.json()["error"]
    assert parts.status_code == 400 and error["param"] == "messages.0.content.0.image_url.url"
    assert "PERSONAE_MEDIA_FETCH_REMOTE" in error["message"]
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    unheard = client.post(
        "/v1/chat/completions",
        json={"model": "echo-friend", "messages": [{"role": "user", "content": [audio]}]},
    )
    assert unheard.status_code == 400  # three bytes of "audio" are no recording
    assert unheard.json()["error"]["param"] == "messages.0.content.0.input_audio.data"
    unknown = client.get("/v1/no-such-route")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_engine_unavailable_is_503_and_retry_is_not_duplicated(
    client: httpx.Client, admin: httpx.Client
) -> None:
    body = {
        "model": "echo-friend",
        "user": "carol",
        "messages": [{"role": "user", "content": "please [[engine-fail]]"}],
    }
    for stream in (False, True):
        failed = client.post("/v1/chat/completions", json={**body, "stream": stream})
        assert failed.status_code == 503
        assert failed.headers["retry-after"] == "1"
        assert failed.json()["error"]["code"] == "engine_unavailable"
    found = conversations_of(admin, "echo-friend", "carol")
    assert messages_of(admin, found[0]["id"]) == [("user", "please [[engine-fail]]")]
    turns = admin.get(f"/api/conversations/{found[0]['id']}").json()["turns"]
    assert [t["status"] for t in turns] == ["failed", "failed"]


def test_mid_stream_failure_ends_the_stream_with_an_error(client: httpx.Client) -> None:
    body = {
        "model": "echo-friend",
        "stream": True,
        "messages": [{"role": "user", "content": "go [[engine-fail-mid]]"}],
    }
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = [line.removeprefix("data: ") for line in response.iter_lines() if line]
    assert frames[-1] != "[DONE]"
    assert json.loads(frames[-1])["error"]["code"] == "engine_unavailable"
    assert json.loads(frames[1])["choices"][0]["delta"]["content"] == "echo:"


def test_oversized_bodies_are_refused_before_parsing(client: httpx.Client) -> None:
    huge = (
        b'{"model": "echo-friend", "messages": [{"role": "user", "content": "'
        + (b"x" * 1_100_000)
        + b'"}]}'
    )
    declared = client.post(
        "/v1/completions", content=huge, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    error = declared.json()["error"]
    assert error["code"] == "request_too_large" and "PERSONAE_MAX_BODY_BYTES" in error["message"]
    # Chat completions carry images: their cap is PERSONAE_MEDIA_BODY_BYTES.
    limit = 16 * 1024 * 1024
    media = client.post(
        "/v1/chat/completions", content=b"x" * (limit + 1),
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert media.status_code == 413
    assert "PERSONAE_MEDIA_BODY_BYTES" in media.json()["error"]["message"]

    def chunks() -> Any:  # no Content-Length: the cap still holds while the body streams in
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    streamed = client.post("/api/personas", content=chunks())
    assert streamed.status_code == 413
    assert "message" in streamed.json()["error"]
    # the server is still fine afterwards
    assert client.get("/healthz").status_code == 200
