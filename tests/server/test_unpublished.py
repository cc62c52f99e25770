"""Unpublished personas are 404 everywhere (the same 404 as a missing one), except for admins."""

from __future__ import annotations

import httpx

from .live import ADMIN_TOKEN, CLIENT_KEYS, LiveServer

HIDDEN, MISSING = "hidden-draft", "no-such-persona"


def _same_404(hidden: httpx.Response, missing: httpx.Response) -> None:
    """Nothing in the answer tells an unpublished persona from one that does not exist."""
    assert hidden.status_code == missing.status_code == 404, (hidden.text, missing.text)
    assert hidden.json() == _swap(missing.json())


def _swap(body: object) -> object:
    if isinstance(body, dict):
        return {key: _swap(value) for key, value in body.items()}
    return body.replace(MISSING, HIDDEN) if isinstance(body, str) else body


def _chat(client: httpx.Client, model: str, **extra: object) -> httpx.Response:
    messages = [{"role": "user", "content": "hello"}]
    return client.post("/v1/chat/completions", json={"model": model, "messages": messages, **extra})


def test_openai_chat_does_not_serve_unpublished(client: httpx.Client) -> None:
    _same_404(_chat(client, HIDDEN), _chat(client, MISSING))
    _same_404(_chat(client, HIDDEN, user="u1"), _chat(client, MISSING, user="u1"))
    _same_404(_chat(client, HIDDEN, stream=True), _chat(client, MISSING, stream=True))


def test_api_does_not_open_or_serve_unpublished(clients: LiveServer) -> None:
    """An API client (here: alpha's key) gets the 404 of a missing persona; the admin may try
    a draft out, in a conversation of its own that nobody else can write into."""
    alpha = httpx.Client(base_url=clients.url, timeout=60, headers=_bearer(CLIENT_KEYS["alpha"]))
    admin = httpx.Client(base_url=clients.url, timeout=60, headers=_bearer(ADMIN_TOKEN))
    with alpha, admin:

        def open_(http: httpx.Client, slug: str) -> httpx.Response:
            return http.post("/api/conversations", json={"persona": slug, "user": "u2"})

        _same_404(open_(alpha, HIDDEN), open_(alpha, MISSING))
        opened = open_(admin, HIDDEN)
        assert opened.status_code == 201, opened.text
        url = f"/api/conversations/{opened.json()['id']}/messages"
        assert admin.post(url, json={"text": "hi"}).status_code == 200
        assert alpha.post(url, json={"text": "hi"}).status_code == 404
        assert alpha.post(url + "/stream", json={"text": "hi"}).status_code == 404


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_may_talk_to_unpublished_over_openai(admin: httpx.Client) -> None:
    reply = _chat(admin, HIDDEN)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "echo: hello"


def test_web_routes_do_not_reveal_unpublished(client: httpx.Client) -> None:
    for suffix in ("avatar", "conversation"):
        _same_404(
            client.get(f"/web/personas/{HIDDEN}/{suffix}"),
            client.get(f"/web/personas/{MISSING}/{suffix}"),
        )
    post = {"json": {"text": "hi"}}
    _same_404(
        client.post(f"/web/personas/{HIDDEN}/messages", **post),  # type: ignore[arg-type]
        client.post(f"/web/personas/{MISSING}/messages", **post),  # type: ignore[arg-type]
    )
    _same_404(client.get(f"/api/personas/{HIDDEN}"), client.get(f"/api/personas/{MISSING}"))
    _same_404(client.get(f"/v1/models/{HIDDEN}"), client.get(f"/v1/models/{MISSING}"))
