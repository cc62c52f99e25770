"""The native REST API: persona CRUD with revisions and problems, conversations, SSE."""

from __future__ import annotations

import json
from typing import Any

import httpx

NEW_PERSONA: dict[str, Any] = {
    "id": "api-made",
    "name": "Made by API",
    "tagline": "Created in a test",
    "greeting": "Hello from the API!",
}


def sse_events(response: httpx.Response) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    for frame in response.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "data" in lines:
            events.append((lines.get("event", "message"), json.loads(lines["data"])))
    return events


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert client.get("/openapi.json").json()["paths"]["/v1/chat/completions"]


def test_persona_writes_need_the_admin_token(client: httpx.Client) -> None:
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.post("/api/personas", json=NEW_PERSONA).status_code == 401
    denied = client.put("/api/personas/echo-friend", json=NEW_PERSONA, headers=wrong)
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"] == "Bearer"
    assert "admin token" in denied.json()["error"]["message"]
    assert client.delete("/api/personas/echo-friend").status_code == 401
    assert client.get("/api/conversations").status_code == 401
    assert client.get("/api/personas/echo-friend/revisions").status_code == 401


def test_persona_crud_with_revisions(client: httpx.Client, admin: httpx.Client) -> None:
    created = admin.post("/api/personas", json=NEW_PERSONA)
    assert created.status_code == 201, created.text
    assert created.json()["revision"] == 1
    again = admin.post("/api/personas", json=NEW_PERSONA)
    assert again.status_code == 400 and "PUT /api/personas/api-made" in again.text
    yaml_body = "id: api-made\nname: Renamed\ngreeting: Hi again!\n"
    updated = admin.put(
        "/api/personas/api-made", content=yaml_body, headers={"content-type": "application/yaml"}
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["revision"], updated.json()["persona"]["name"]) == (2, "Renamed")
    public = client.get("/api/personas/api-made").json()
    assert public["persona"]["greeting"] == "Hi again!"
    assert "api-made" in {
        p["persona"]["id"] for p in client.get("/api/personas").json()["personas"]
    }
    revisions = admin.get("/api/personas/api-made/revisions").json()["revisions"]
    assert [(r["revision"], r["persona"]["name"]) for r in revisions] == [
        (1, "Made by API"),
        (2, "Renamed"),
    ]
    assert admin.delete("/api/personas/api-made").json() == {"id": "api-made", "deleted": True}
    gone = client.get("/api/personas/api-made")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "model_not_found"


def test_persona_validation_problems_are_422(admin: httpx.Client) -> None:
    bad = {"id": "Bad Slug!", "name": "", "greeting": "hi", "colour": "blue"}
    response = admin.post("/api/personas", json=bad)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "persona_invalid"
    locations = {p["location"] for p in error["problems"]}
    assert {"id", "name", "colour"} <= locations
    assert all(set(p) == {"location", "message", "value", "hint"} for p in error["problems"])
    bad_yaml = admin.post(
        "/api/personas", content="id: [oops", headers={"content-type": "application/yaml"}
    )
    # A body that cannot even be read as data is a request error (400), still with problems.
    assert bad_yaml.status_code == 400 and "YAML" in bad_yaml.text
    assert bad_yaml.json()["error"]["problems"][0]["location"] == "line 1, column 10"


def test_persona_bad_bodies_are_400(admin: httpx.Client) -> None:
    not_json = admin.post("/api/personas", content=b"{nope")
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["error"]["message"]
    mismatch = admin.put("/api/personas/echo-friend", json={**NEW_PERSONA, "id": "other-one"})
    assert mismatch.status_code == 400 and "does not match" in mismatch.text
    missing = admin.put("/api/personas/no-such-one", json={**NEW_PERSONA, "id": "no-such-one"})
    assert missing.status_code == 404


def test_unpublished_persona_only_for_admin(client: httpx.Client, admin: httpx.Client) -> None:
    assert client.get("/api/personas/hidden-draft").status_code == 404
    assert admin.get("/api/personas/hidden-draft").json()["persona"]["published"] is False
    listed = {p["persona"]["id"] for p in admin.get("/api/personas").json()["personas"]}
    assert "hidden-draft" in listed


def test_conversation_messages_and_traces(admin: httpx.Client) -> None:
    # Conversation writes need a credential; with no API key on this server, the admin token
    # is the one there is (a client of its own: test_identity.py).
    opened = admin.post("/api/conversations", json={"persona": "echo-friend", "user": "dan"})
    assert opened.status_code == 201, opened.text
    conversation = opened.json()
    assert (conversation["persona"], conversation["channel"]) == ("echo-friend", "api")
    assert conversation["client"] == "admin"
    url = f"/api/conversations/{conversation['id']}/messages"
    sent = admin.post(url, json={"text": "how are you", "external_id": "m-1"})
    assert sent.status_code == 200, sent.text
    result = sent.json()
    assert result["message"]["content"] == "how are you"
    assert result["reply"]["content"] == "echo: how are you"
    assert result["trace"]["engine"] == "scripted"
    replayed = admin.post(url, json={"text": "how are you", "external_id": "m-1"}).json()
    assert replayed["replayed"] is True and replayed["reply"]["id"] == result["reply"]["id"]
    full = admin.get(f"/api/conversations/{conversation['id']}").json()
    assert [m["content"] for m in full["messages"]] == ["how are you", "echo: how are you"]
    assert full["turns"][0]["trace"]["usage"]["completion_tokens"] == 4
    mine = {"persona": "echo-friend", "user": "dan", "client": "admin"}
    listed = admin.get("/api/conversations", params=mine)
    assert [c["id"] for c in listed.json()["conversations"]] == [conversation["id"]]
    assert listed.json()["conversations"][0]["channel"] == "api"
    unnamed = admin.get("/api/conversations", params={"persona": "echo-friend", "user": "dan"})
    assert unnamed.status_code == 400 and "client=" in unnamed.json()["error"]["message"]


def test_conversation_stream(admin: httpx.Client) -> None:
    client = admin  # conversation writes need a credential
    conversation = client.post(
        "/api/conversations", json={"persona": "echo-friend", "user": "erin", "channel": "openai"}
    ).json()
    url = f"/api/conversations/{conversation['id']}/messages/stream"
    response = client.post(url, json={"text": "stream this please"})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    deltas = "".join(data["text"] for name, data in events if name == "delta")
    assert deltas == "echo: stream this please"
    assert events[-1][0] == "done"
    assert events[-1][1]["reply"]["content"] == deltas
    failed = client.post(url, json={"text": "x [[engine-fail-mid]]"})
    assert sse_events(failed)[-1][0] == "error"
    early = client.post(url, json={"text": "x [[engine-fail]]"})
    assert early.status_code == 503 and early.headers["retry-after"] == "1"
    assert early.json()["error"]["type"] == "engine_unavailable"


def test_native_errors(admin: httpx.Client) -> None:
    client = admin  # conversation writes need a credential
    missing = client.post("/api/conversations", json={"persona": "nobody", "user": "x"})
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"message", "type"}
    assert client.post("/api/conversations/0123/messages", json={"text": "hi"}).status_code == 404
    conversation = client.post(
        "/api/conversations", json={"persona": "echo-friend", "user": "fay"}
    ).json()
    url = f"/api/conversations/{conversation['id']}/messages"
    assert client.post(url, json={"text": "x" * 501}).status_code == 413
    assert client.post(url, json={"txt": "typo"}).status_code == 400
    not_json = client.post(url, content=b"hi", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.text
