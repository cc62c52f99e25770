"""A person's memory through /api and /web, tested as its owner and as an attacker."""

from __future__ import annotations

import httpx

from .live import CLIENT_KEYS, LiveServer


def _client(server: LiveServer, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def _say(client: httpx.Client, conversation: str, text: str) -> dict[str, object]:
    answer = client.post(f"/api/conversations/{conversation}/messages", json={"text": text})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _wait_for_facts(client: httpx.Client, conversation: str, count: int) -> list[dict[str, object]]:
    # The memory job runs after the reply, before the conversation's next turn.
    _say(client, conversation, "/memory")
    listed = client.get(f"/api/conversations/{conversation}/memory").json()["memories"]
    assert len(listed) == count, listed
    return list(listed)


def test_an_api_client_lists_corrects_and_deletes_its_persons_memories(
    clients: LiveServer,
) -> None:
    alpha = _client(clients, CLIENT_KEYS["alpha"])
    beta = _client(clients, CLIENT_KEYS["beta"])
    opened = alpha.post("/api/conversations", json={"persona": "echo-friend", "user": "ana"})
    conversation = opened.json()["id"]
    _say(alpha, conversation, "I'm allergic to peanuts.")
    [fact] = _wait_for_facts(alpha, conversation, 1)
    assert fact["text"] == "They are allergic to peanuts" and fact["number"] == 1
    base = f"/api/conversations/{conversation}/memory"

    # Attackers: no key, another client's key, a made-up id, hostile bodies.
    assert _client(clients, None).get(base).status_code == 401
    assert beta.get(base).status_code == 404
    assert beta.delete(f"{base}/{fact['id']}").status_code == 404
    assert beta.delete(base).status_code == 404
    assert beta.put(f"{base}/{fact['id']}", json={"text": "hacked"}).status_code == 404
    assert alpha.delete(f"{base}/999999").status_code == 404
    assert alpha.put(f"{base}/{fact['id']}", json={"text": "x" * 5000}).status_code in (400, 422)
    assert alpha.put(f"{base}/{fact['id']}", json={"text": ""}).status_code in (400, 422)
    assert alpha.get(base).json()["memories"][0]["text"] == "They are allergic to peanuts"

    corrected = alpha.put(f"{base}/{fact['id']}", json={"text": "They are allergic to cashews"})
    assert corrected.status_code == 200
    [now] = corrected.json()["memories"]
    assert now["text"] == "They are allergic to cashews"

    off = alpha.put(f"{base}/settings", json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    alpha.put(f"{base}/settings", json={"enabled": True})

    assert alpha.delete(f"{base}/{now['id']}").status_code == 204
    assert alpha.get(base).json()["memories"] == []
    assert alpha.delete(base).json()["deleted"] >= 0


def test_the_web_chat_person_sees_only_their_own_memory(live: LiveServer) -> None:
    web = httpx.Client(base_url=live.url, timeout=60)
    web.get("/web/personas/echo-friend/conversation")  # gets the person cookie
    sent = web.post("/web/personas/echo-friend/messages", json={"text": "I live in Porto."})
    assert sent.status_code == 200, sent.text
    web.post("/web/personas/echo-friend/messages", json={"text": "/memory"})
    [fact] = web.get("/web/personas/echo-friend/memory").json()["memories"]
    assert fact["text"] == "They live in Porto"

    stranger = httpx.Client(base_url=live.url, timeout=60)
    assert stranger.get("/web/personas/echo-friend/memory").json()["memories"] == []
    assert stranger.delete(f"/web/personas/echo-friend/memory/{fact['id']}").status_code == 404
    stranger.get("/web/personas/echo-friend/conversation")
    assert stranger.delete(f"/web/personas/echo-friend/memory/{fact['id']}").status_code == 404
    assert web.delete(f"/web/personas/echo-friend/memory/{fact['id']}").status_code == 204
    assert web.get("/web/personas/echo-friend/memory").json()["memories"] == []
