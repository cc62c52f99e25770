"""The OpenAI surface completed: every chat-completions parameter honoured or refused by name,
structured output and logprobs from the embedded model, x-request-id on every answer, and the
person named by a header for front ends that never send `user`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import completion_create_params

from personae.server.openai_schema import HONOURED, REFUSED, WITHOUT_EFFECT
from personae.settings import Settings

from .live import ADMIN_TOKEN, LiveServer, start_server, write_personas
from .rawhttp import connect, read_answer

HELLO = [{"role": "user", "content": "hello"}]
USER_HEADER = "X-OpenWebUI-User-Id"
CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
}
CITY_FORMAT = {"name": "city", "schema": CITY_SCHEMA, "strict": True}
BAD_FORMAT = {"name": "x", "schema": {"type": "nope"}}
ASK_JSON = [
    {
        "role": "user",
        "content": 'Answer in JSON with the keys "city" and "country": the capital of France?',
    }
]


@pytest.fixture
def sdk(live: LiveServer) -> OpenAI:
    return OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def headed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that takes the person from X-OpenWebUI-User-Id when a request has no user."""
    home = tmp_path_factory.mktemp("headed")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, load_samples=False,
        personas_dir=write_personas(home / "personas"), openai_user_header=USER_HEADER,
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


def _post(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json={"model": "echo-friend", "messages": HELLO, **body}
    )


# ------------------------------------------------------------------ every parameter


def test_every_openai_parameter_has_a_disposition() -> None:
    # From the installed openai SDK: a parameter OpenAI adds later fails here until decided.
    known = set(completion_create_params.CompletionCreateParamsBase.__annotations__) | {"stream"}
    decided = set(HONOURED) | set(WITHOUT_EFFECT) | set(REFUSED)
    assert known - decided == set()
    assert not set(HONOURED) & set(REFUSED) and not set(WITHOUT_EFFECT) & set(REFUSED)


REFUSALS: dict[str, Any] = {
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "functions": [{"name": "f", "parameters": {}}],
    "tool_choice": "required",
    "function_call": {"name": "f"},
    "logit_bias": {"50256": -100},
    "prediction": {"type": "content", "content": "x"},
    "reasoning_effort": "high",
    "verbosity": "low",
    "web_search_options": {},
    "moderation": True,
}


def test_refusal_examples_cover_every_refused_parameter() -> None:
    assert set(REFUSALS) == set(REFUSED)


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refused_parameter_is_a_400_naming_it(client: httpx.Client, name: str) -> None:
    answer = _post(client, **{name: REFUSALS[name]})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == name
    assert name in error["message"] and "not supported" in error["message"]


def test_the_sdk_raises_bad_request_for_tools(sdk: OpenAI) -> None:
    tool = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="echo-friend", messages=HELLO, tools=[tool])  # type: ignore[arg-type, list-item]
    assert caught.value.param == "tools"


def test_harmless_values_and_parameters_without_effect_are_accepted(client: httpx.Client) -> None:
    answer = _post(
        client, tools=[], tool_choice="none", modalities=["text"], logit_bias={},
        store=False, metadata={"k": "v"}, service_tier="auto", prompt_cache_key="abc",
        safety_identifier="someone", parallel_tool_calls=False, frequency_penalty=0.5,
        presence_penalty=-0.5, response_format={"type": "text"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: hello"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"frequency_penalty": 3.0}, "frequency_penalty"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "bad name!"}}},
         "response_format.json_schema.name"),
        ({"user": "u" * 256}, "user"),
    ],
)  # fmt: skip
def test_bad_values_name_their_parameter(
    client: httpx.Client, body: dict[str, Any], param: str
) -> None:
    answer = _post(client, **body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"logprobs": True}, "logprobs"),
    ],
)
@pytest.mark.parametrize("user", [None, "ana"])
def test_an_engine_without_the_ability_refuses_before_storing(
    client: httpx.Client, admin: httpx.Client, body: dict[str, Any], param: str, user: str | None
) -> None:
    # echo-friend runs on the scripted engine: no grammar, no logprobs.
    who = f"{user}-{param}" if user else None
    answer = _post(client, user=who, **body) if who else _post(client, **body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and "scripted" in error["message"]
    if who:  # the refused message was not stored
        params = {"persona": "echo-friend", "user": who, "channel": "openai", "client": "local"}
        assert admin.get("/api/conversations", params=params).json()["conversations"] == []


# ------------------------------------------------------------------ the embedded model


def test_json_object_from_the_embedded_model_parses(sdk: OpenAI) -> None:
    done = sdk.chat.completions.create(
        model="tiny-llama", messages=ASK_JSON, max_tokens=120,  # type: ignore[arg-type]
        response_format={"type": "json_object"},
    )  # fmt: skip
    assert isinstance(json.loads(done.choices[0].message.content or ""), dict)


def test_json_schema_streamed_from_the_embedded_model(sdk: OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="tiny-llama", messages=ASK_JSON, max_tokens=120, stream=True,  # type: ignore[arg-type]
        response_format={"type": "json_schema", "json_schema": CITY_FORMAT},
    )  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert set(json.loads(text)) >= {"city", "country"}


def test_structured_output_and_logprobs_in_a_server_side_conversation(sdk: OpenAI) -> None:
    # With `user` the options travel in the turn's stored job and back.
    done = sdk.chat.completions.create(
        model="tiny-llama", messages=ASK_JSON, max_tokens=120, user="json-keeper",  # type: ignore[arg-type]
        response_format={"type": "json_schema", "json_schema": CITY_FORMAT},
        logprobs=True, top_logprobs=1,
    )  # fmt: skip
    text = done.choices[0].message.content or ""
    assert set(json.loads(text)) >= {"city", "country"}
    assert done.choices[0].logprobs is not None and done.choices[0].logprobs.content
    got = b"".join(bytes(t.bytes or []) for t in done.choices[0].logprobs.content)
    assert got == text.encode()


def test_a_schema_the_engine_cannot_follow_is_a_400(sdk: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(
            model="tiny-llama", messages=ASK_JSON,  # type: ignore[arg-type]
            response_format={"type": "json_schema", "json_schema": BAD_FORMAT},
        )  # fmt: skip
    assert caught.value.param == "response_format"


def test_logprobs_in_openais_shape(sdk: OpenAI) -> None:
    done = sdk.chat.completions.create(
        model="tiny-llama",
        messages=HELLO,
        logprobs=True,
        top_logprobs=2,  # type: ignore[arg-type]
    )
    choice = done.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content
    content = choice.logprobs.content
    assert (
        b"".join(bytes(t.bytes or []) for t in content) == (choice.message.content or "").encode()
    )
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)
    plain = sdk.chat.completions.create(model="tiny-llama", messages=HELLO)  # type: ignore[arg-type]
    assert plain.choices[0].logprobs is None


def test_streamed_logprobs_arrive_with_their_text(sdk: OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="tiny-llama",
        messages=HELLO,
        logprobs=True,
        top_logprobs=1,
        stream=True,  # type: ignore[arg-type]
    )
    text, tokens = "", b""
    for chunk in stream:
        if not chunk.choices or not chunk.choices[0].delta.content:
            continue
        choice = chunk.choices[0]
        assert choice.logprobs is not None and choice.logprobs.content is not None
        text += choice.delta.content or ""
        tokens += b"".join(bytes(t.bytes or []) for t in choice.logprobs.content)
    assert text and tokens == text.encode()


# ------------------------------------------------------------------ x-request-id


def test_every_answer_carries_a_request_id(live: LiveServer, client: httpx.Client) -> None:
    answers = [
        client.get("/healthz"),
        client.get("/v1/models"),
        client.get("/v1/models/no-such-persona"),  # 404
        client.post("/v1/chat/completions", content=b"{not json"),  # 400
        client.post("/api/personas", json={}),  # 401: no admin token
        client.get("/no/such/route"),  # 404 outside /v1
        httpx.get(f"{live.url}/healthz", headers={"Host": "evil.example"}),  # refused host
        _post(client, tools=REFUSALS["tools"]),
    ]
    ids = [a.headers.get("x-request-id") for a in answers]
    assert all(i and i.startswith("req_") for i in ids), list(
        zip([a.status_code for a in answers], ids, strict=True)
    )
    assert len(set(ids)) == len(ids)
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "echo-friend", "messages": HELLO, "stream": True},
    ) as streamed:
        assert streamed.headers["x-request-id"].startswith("req_")


def test_a_sane_incoming_request_id_is_echoed_and_others_replaced(live: LiveServer) -> None:
    sane = "3f2a1c9e-7b4d-4e0a-9f1b-2c3d4e5f6a7b"
    assert (
        httpx.get(f"{live.url}/healthz", headers={"X-Request-Id": sane}).headers["x-request-id"]
        == sane
    )
    for hostile in ("a" * 129, "has space", 'quote"d', "semi;colon"):
        got = httpx.get(f"{live.url}/healthz", headers={"X-Request-Id": hostile}).headers[
            "x-request-id"
        ]
        assert got != hostile and got.startswith("req_")
    sock = connect(live.url)
    sock.sendall(
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: \xff\xfe\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = read_answer(sock, time.monotonic())
    assert answer.status == 200 and answer.headers["x-request-id"].startswith("req_")


# ------------------------------------------------------------------ the person from a header


def _conversations(server: LiveServer, user: str) -> list[dict[str, Any]]:
    params = {"persona": "echo-friend", "user": user, "channel": "openai", "client": "local"}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    found = httpx.get(f"{server.url}/api/conversations", params=params, headers=headers)
    conversations: list[dict[str, Any]] = found.json()["conversations"]
    return conversations


def test_a_front_end_that_sends_only_the_header_gets_server_side_conversations(
    headed: LiveServer,
) -> None:
    sdk = OpenAI(base_url=f"{headed.url}/v1", api_key="x", max_retries=0, timeout=60)
    for text in ("first", "second"):
        sdk.chat.completions.create(
            model="echo-friend", messages=[{"role": "user", "content": text}],
            extra_headers={USER_HEADER: "owui-user-1"},
        )  # fmt: skip
    sdk.chat.completions.create(
        model="echo-friend",
        messages=HELLO,
        extra_headers={USER_HEADER: "owui-user-2"},  # type: ignore[arg-type]
    )
    (one,) = _conversations(headed, "owui-user-1")
    assert one["message_count"] == 4
    assert len(_conversations(headed, "owui-user-2")) == 1
    # `user` in the body wins over the header.
    sdk.chat.completions.create(
        model="echo-friend", messages=HELLO, user="body-user",  # type: ignore[arg-type]
        extra_headers={USER_HEADER: "owui-user-3"},
    )  # fmt: skip
    assert len(_conversations(headed, "body-user")) == 1
    assert _conversations(headed, "owui-user-3") == []


def test_without_the_setting_the_header_means_nothing(
    live: LiveServer, admin: httpx.Client
) -> None:
    with httpx.Client(base_url=live.url) as http:
        assert _post(http).status_code == 200
        http.post(
            "/v1/chat/completions", headers={USER_HEADER: "nobody-here"},
            json={"model": "echo-friend", "messages": HELLO},
        )  # fmt: skip
    params = {
        "persona": "echo-friend",
        "user": "nobody-here",
        "channel": "openai",
        "client": "local",
    }
    assert admin.get("/api/conversations", params=params).json()["conversations"] == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"x" * 256, b"over the limit"),
        (b"bad\x01id", b"control characters"),
        (b"\xff\xfeid", b"not UTF-8"),
    ],
)
def test_hostile_header_values_are_refused_clearly(
    headed: LiveServer, value: bytes, why: bytes
) -> None:
    body = json.dumps({"model": "echo-friend", "messages": HELLO}).encode()
    sock = connect(headed.url)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        + USER_HEADER.encode() + b": " + value + b"\r\nContent-Length: " + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n" + body
    )  # fmt: skip
    answer = read_answer(sock, time.monotonic())
    assert answer.status == 400, answer.body
    if b"\x01" in value and answer.body == b"Invalid HTTP request received.":
        # A control character is not valid HTTP (RFC 9110 field-value): uvicorn's C parser
        # (httptools) refuses the request before the app sees it, and closes the connection.
        assert answer.closed
        return
    assert why in answer.body and USER_HEADER.encode() in answer.body
    assert answer.json()["error"]["param"] == USER_HEADER
