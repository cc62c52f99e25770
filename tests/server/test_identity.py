"""Who may act as whom: a person id is namespaced by the credential that sent it.

Each API key is a client; the admin token is a client of its own; with no key configured, an
unauthenticated /v1 caller (on loopback) is the client "local". One client never reaches
another's people or conversations, and no API client can claim the web chat's people.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .live import ADMIN_TOKEN, CLIENT_KEYS, LiveServer

SECRET = "my door code is 4321"


def _as(server: LiveServer, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, timeout=60, headers=headers)


def _chat(http: httpx.Client, user: str, text: str) -> httpx.Response:
    body = {"model": "echo-friend", "user": user, "messages": [{"role": "user", "content": text}]}
    return http.post("/v1/chat/completions", json=body)


def _history_of(admin: httpx.Client, conversation_id: str) -> list[str]:
    body = admin.get(f"/api/conversations/{conversation_id}").json()
    return [m["content"] for m in body["messages"]]


def _conversations(admin: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    found = admin.get("/api/conversations", params={"limit": 500, **params})
    assert found.status_code == 200, found.text
    listed: list[dict[str, Any]] = found.json()["conversations"]
    return listed


def test_the_attack_from_the_issue_fails(live: LiveServer) -> None:
    with _as(live, None) as anyone, _as(live, ADMIN_TOKEN) as admin:
        assert _chat(anyone, "victim", SECRET).status_code == 200
        [theirs] = _conversations(admin, persona="echo-friend", user="victim", channel="openai",
                                  client="local")  # fmt: skip
        attack = {"persona": "echo-friend", "user": "victim", "channel": "openai"}
        denied = anyone.post("/api/conversations", json=attack)
        assert denied.status_code == 401
        assert "API key or the admin token" in denied.json()["error"]["message"]
        denied = anyone.post(f"/api/conversations/{theirs['id']}/messages", json={"text": "hi"})
        assert denied.status_code == 401
        # Even the admin token is a client of its own: the same user id is another person.
        opened = admin.post("/api/conversations", json=attack)
        assert opened.status_code == 201, opened.text
        assert opened.json()["id"] != theirs["id"]
        assert (opened.json()["channel"], opened.json()["client"]) == ("openai", "admin")
        written = admin.post(f"/api/conversations/{theirs['id']}/messages", json={"text": "hi"})
        assert written.status_code == 404
        assert _history_of(admin, theirs["id"]) == [SECRET, f"echo: {SECRET}"]


def test_conversation_writes_need_a_credential(live: LiveServer) -> None:
    with _as(live, None) as anyone, _as(live, ADMIN_TOKEN) as admin:
        opened = admin.post("/api/conversations", json={"persona": "echo-friend", "user": "uma"})
        url = f"/api/conversations/{opened.json()['id']}/messages"
        for path, body in (
            ("/api/conversations", {"persona": "echo-friend", "user": "uma"}),
            (url, {"text": "hello"}),
            (f"{url}/stream", {"text": "hello"}),
        ):
            denied = anyone.post(path, json=body)
            assert denied.status_code == 401, (path, denied.text)
            assert denied.headers["www-authenticate"] == "Bearer"
            assert set(denied.json()["error"]) == {"message", "type"}
        assert _history_of(admin, opened.json()["id"]) == []


@pytest.mark.parametrize("channel", ["web", "whatsapp", "telegram", "api:beta", "openai:local"])
def test_the_api_cannot_claim_another_channels_people(live: LiveServer, channel: str) -> None:
    with _as(live, ADMIN_TOKEN) as admin:
        body = {"persona": "echo-friend", "user": "someone", "channel": channel}
        refused = admin.post("/api/conversations", json=body)
        assert refused.status_code == 400, refused.text
        message = refused.json()["error"]["message"]
        assert "channel" in message and "'api' or 'openai'" in message


def test_one_client_cannot_reach_anothers_people_through_v1(clients: LiveServer) -> None:
    alpha, beta = CLIENT_KEYS["alpha"], CLIENT_KEYS["beta"]
    with _as(clients, alpha) as a, _as(clients, beta) as b, _as(clients, ADMIN_TOKEN) as admin:
        assert _chat(a, "sam", SECRET).status_code == 200
        # The scripted engine answers [[engine-prompt]] with the prompt's roles: alpha's sam
        # has a history (greeting, secret, reply); beta's sam, a different person, has none.
        for http, roles in ((a, "assistant user assistant user"), (b, "assistant user")):
            seen = _chat(http, "sam", "[[engine-prompt]]").json()["choices"][0]["message"]
            assert seen["content"] == f"prompt: system {roles}"
        found = _conversations(admin, persona="echo-friend")
        mine = [c for c in found if c["channel"] == "openai" and c["client"] == "alpha"]
        theirs = [c for c in found if c["channel"] == "openai" and c["client"] == "beta"]
        assert len(mine) == len(theirs) == 1 and mine[0]["person_id"] != theirs[0]["person_id"]
        assert _history_of(admin, mine[0]["id"])[:2] == [SECRET, f"echo: {SECRET}"]
        assert SECRET not in _history_of(admin, theirs[0]["id"])


def test_one_client_cannot_reach_anothers_conversations_through_api(clients: LiveServer) -> None:
    alpha, beta = CLIENT_KEYS["alpha"], CLIENT_KEYS["beta"]
    with _as(clients, alpha) as a, _as(clients, beta) as b, _as(clients, ADMIN_TOKEN) as admin:
        body = {"persona": "echo-friend", "user": "tom", "channel": "openai"}
        mine = a.post("/api/conversations", json=body).json()
        assert (mine["channel"], mine["client"]) == ("openai", "alpha")
        url = f"/api/conversations/{mine['id']}/messages"
        assert a.post(url, json={"text": SECRET}).status_code == 200
        theirs = b.post("/api/conversations", json=body).json()
        assert theirs["id"] != mine["id"] and theirs["person_id"] != mine["person_id"]
        for path in (url, f"{url}/stream"):
            hidden = b.post(path, json={"text": "tell me the code"})
            assert hidden.status_code == 404, hidden.text
            assert hidden.json()["error"]["type"] == "not_found"
        nowhere = b.post(f"/api/conversations/{'0' * 32}/messages", json={"text": "x"})
        assert (
            hidden.json()["error"]["message"].replace(mine["id"], "0" * 32)
            == (nowhere.json()["error"]["message"])
        ), "another client's conversation must look exactly like a missing one"
        # The admin reads every conversation but writes only into its own.
        assert admin.post(url, json={"text": "x"}).status_code == 404
        assert _history_of(admin, mine["id"]) == [SECRET, f"echo: {SECRET}"]
        # Reading conversations stays the admin's: an API key cannot list them.
        assert b.get("/api/conversations").status_code == 401


def test_the_same_external_id_from_two_people_is_two_messages(clients: LiveServer) -> None:
    alpha, beta = CLIENT_KEYS["alpha"], CLIENT_KEYS["beta"]
    with _as(clients, alpha) as a, _as(clients, beta) as b:
        results = []
        for http, user, text in ((a, "ann", SECRET), (b, "ann", "hello"), (a, "bob", "hey")):
            conversation = http.post("/api/conversations", json={"persona": "echo-friend",
                                                                 "user": user}).json()  # fmt: skip
            url = f"/api/conversations/{conversation['id']}/messages"
            sent = http.post(url, json={"text": text, "external_id": "1"})
            assert sent.status_code == 200, sent.text
            results.append((conversation["id"], sent.json()))
        assert len({conversation_id for conversation_id, _ in results}) == 3
        for (conversation_id, result), text in zip(results, (SECRET, "hello", "hey"), strict=True):
            assert result["replayed"] is False
            assert result["reply"]["conversation_id"] == conversation_id
            assert result["reply"]["content"] == f"echo: {text}"
        assert len({result["message"]["id"] for _, result in results}) == 3


def test_v1_without_a_key_is_refused_when_keys_are_set(clients: LiveServer) -> None:
    with _as(clients, None) as anyone, _as(clients, "key-of-nobody") as wrong:
        for http in (anyone, wrong):
            refused = _chat(http, "sam", "hi")
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
