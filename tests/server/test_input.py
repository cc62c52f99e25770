"""Hostile input against a real server: every bad body or parameter is a 400 naming the field,
in the surface's own error shape, never a 500 (issue 5, findings 4, 8, 9, 10 and 13)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

LONE = "hi \ud800 there"  # a lone high surrogate: valid JSON escape, not valid Unicode
CHAT = "/v1/chat/completions"
PERSONA = {"id": "input-check", "name": "Input", "greeting": "Hello."}


def raw_json(text: str) -> dict[str, Any]:
    """Send ``text`` as the body verbatim (httpx would refuse to encode a lone surrogate)."""
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def openai_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def native_error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert {"message", "type"} <= set(error) and "param" not in error
    return error


# ---------------------------------------------------------------- 4: lone surrogates


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ('{"model":"echo-friend","messages":[{"role":"user","content":"hi \\ud800"}]}',
         "messages.0.content"),
        ('{"model":"echo-\\udfff","messages":[{"role":"user","content":"hi"}]}', "model"),
        ('{"model":"echo-friend","user":"\\ud800","messages":[{"role":"user","content":"x"}]}',
         "user"),
        ('{"model":"echo-friend","messages":[{"role":"system","content":"\\udbff!"},'
         '{"role":"user","content":"hi"}]}', "messages.0.content"),
        ('{"model":"echo-friend","messages":[{"role":"user","content":[{"type":"text",'
         '"text":"a\\ud800"}]}]}', "messages.0.content.0.text"),
    ],
)  # fmt: skip
def test_lone_surrogate_in_openai_body_is_400(client: httpx.Client, body: str, param: str) -> None:
    error = openai_error(client.post(CHAT, **raw_json(body)))
    assert error["param"] == param
    assert "surrogate" in error["message"] and param in error["message"]


def test_lone_surrogate_in_native_and_web_bodies_is_400(
    client: httpx.Client, admin: httpx.Client
) -> None:
    opened = client.post("/api/conversations", **raw_json('{"persona":"e\\ud800","user":"u"}'))
    assert "persona" in native_error(opened)["message"]
    user = client.post(
        "/api/conversations", **raw_json('{"persona":"echo-friend","user":"\\ud800"}')
    )
    assert "user" in native_error(user)["message"]
    conversation = admin.post("/api/conversations", json={"persona": "echo-friend", "user": "sg"})
    url = f"/api/conversations/{conversation.json()['id']}/messages"
    for path in (url, url + "/stream", "/web/personas/echo-friend/messages"):
        sent = admin.post(path, **raw_json('{"text":"hi \\ud800"}'))
        assert "text" in native_error(sent)["message"]


def test_escaped_backslash_u_and_real_pairs_are_plain_text(client: httpx.Client) -> None:
    # "\\ud800" is a backslash followed by "ud800"; "\ud83d\ude00" is a valid pair (an emoji).
    body = (
        '{"model":"echo-friend","messages":[{"role":"user","content":"a\\\\ud800 \\ud83d\\ude00"}]}'
    )
    done = client.post(CHAT, **raw_json(body))
    assert done.status_code == 200, done.text
    assert done.json()["choices"][0]["message"]["content"] == "echo: a\\ud800 \U0001f600"


def test_lone_surrogate_in_a_persona_body_is_refused(admin: httpx.Client) -> None:
    as_json = admin.post(
        "/api/personas", **raw_json('{"id":"x-y","name":"\\ud800","greeting":"g"}')
    )
    assert "name" in native_error(as_json)["message"]
    as_yaml = admin.post(
        "/api/personas",
        content=b'id: x-y\nname: "bad \\ud800"\ngreeting: g\n',
        headers={"content-type": "application/yaml"},
    )
    error = native_error(as_yaml)
    assert error["type"] == "persona_unreadable" and "surrogate" in error["message"]
    assert [p["location"] for p in error["problems"]] == ["name"]


# ---------------------------------------------------------------- 8: limit and offset


@pytest.mark.parametrize(
    ("params", "name"),
    [({"offset": "99999999999999999999"}, "offset"), ({"limit": "99999999999999999999"}, "limit"),
     ({"offset": "-1"}, "offset")],
)  # fmt: skip
def test_huge_offset_or_limit_is_400_naming_it(
    admin: httpx.Client, params: dict[str, str], name: str
) -> None:
    error = native_error(admin.get("/api/conversations", params=params))
    assert f"'{name}'" in error["message"]
    at_bound = admin.get("/api/conversations", params={"offset": "1000000000"})
    assert at_bound.status_code == 200 and at_bound.json() == {"conversations": []}


# ---------------------------------------------------------------- 9: deep nesting


def test_deeply_nested_persona_bodies_are_400(admin: httpx.Client) -> None:
    deep_json = '{"id":"deep-one","name":"D","greeting":"g","extensions":{"x":' + "[" * 100_000
    deep_json += "]" * 100_000 + "}}"
    as_json = native_error(admin.post("/api/personas", **raw_json(deep_json)))
    assert "nested" in as_json["message"]
    deep_yaml = "id: deep-one\nname: D\ngreeting: g\nextensions:\n  x: " + "[" * 20_000
    deep_yaml += "]" * 20_000 + "\n"
    as_yaml = admin.post(
        "/api/personas", content=deep_yaml, headers={"content-type": "application/yaml"}
    )
    assert "nested" in native_error(as_yaml)["message"]
    # Nesting that parses but is still absurd is refused before it reaches the store.
    middling = '{"id":"deep-one","name":"D","greeting":"g","extensions":{"x":' + "[" * 500
    middling += "]" * 500 + "}}"
    assert "nested" in native_error(admin.post("/api/personas", **raw_json(middling)))["message"]
    assert admin.get("/api/personas/deep-one").status_code == 404


# ---------------------------------------------------------------- 10: YAML aliases


BOMB = """\
id: yaml-bomb
name: Bomb
greeting: hi
extensions:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
"""


def test_yaml_aliases_are_refused(admin: httpx.Client) -> None:
    response = admin.post(
        "/api/personas", content=BOMB, headers={"content-type": "application/yaml"}
    )
    problem = native_error(response)["problems"][0]
    assert "alias" in problem["message"] and problem["location"] == "line 6, column 10"
    assert admin.get("/api/personas/yaml-bomb").status_code == 404


# ---------------------------------------------------------------- 13: OpenAI strictness


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "echo-friend", "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (chat(stream="yes"), "stream"),
        (chat(stream=1), "stream"),
        (chat(max_tokens=True), "max_tokens"),
        (chat(max_tokens="16"), "max_tokens"),
        (chat(max_tokens=1e30), "max_tokens"),
        (chat(max_tokens=2**40), "max_tokens"),
        (chat(max_completion_tokens=16.5), "max_completion_tokens"),
        (chat(temperature="0.5"), "temperature"),
        (chat(seed=2**70), "seed"),
        (chat(stream_options={"include_usage": "yes"}), "stream_options.include_usage"),
        (chat(messages=[{"role": "user", "content": ""}]), "messages.0.content"),
        (chat(messages=[{"role": "user", "content": None}]), "messages.0.content"),
        (chat(messages=[{"role": "user", "content": []}]), "messages.0.content"),
        (chat(messages=[{"role": "user", "content": "hi"}, {"role": "tool", "content": "42",
                         "tool_call_id": "c1"}, {"role": "user", "content": "and?"}]),
         "messages.1.role"),
        (chat(messages=[{"role": "function", "name": "f", "content": "1"},
                        {"role": "user", "content": "x"}]), "messages.0.role"),
    ],
)  # fmt: skip
def test_openai_refuses_what_openai_refuses(
    client: httpx.Client, body: dict[str, Any], param: str
) -> None:
    error = openai_error(client.post(CHAT, json=body))
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"


def test_openai_accepts_what_clients_send(client: httpx.Client) -> None:
    # What the openai SDK and Open WebUI send: nulls for unset options, ints for floats,
    # assistant messages with null content, stream false.
    body = chat(
        stream=False, max_tokens=None, temperature=1, top_p=1, seed=None, stop=None, n=1,
        messages=[{"role": "system", "content": ""}, {"role": "user", "content": "one"},
                  {"role": "assistant", "content": None}, {"role": "user", "content": "two"}],
    )  # fmt: skip
    done = client.post(CHAT, json=body)
    assert done.status_code == 200, done.text
    assert done.json()["choices"][0]["message"]["content"] == "echo: two"
