"""Rated replies, and opening one with its turn's trace: GET /api/ratings and the studio's
/studio/ratings and /studio/conversations/{id} pages, against a live server, as the
persona's creator, as another creator, with no token, and with hostile parameters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.stores.tokens import new_token

from .live import ADMIN_TOKEN, LiveServer, start_server, write_personas
from .test_api import sse_events


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ratings-review")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, load_samples=False,
        personas_dir=write_personas(home / "personas"),
    )  # fmt: skip
    live = start_server(settings)
    yield live
    live.stop()


def _client(server: LiveServer, token: str | None = ADMIN_TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _creator(server: LiveServer, *personas: str) -> str:
    token = new_token()

    async def make() -> None:
        store = await SqlStore.open(server.settings.resolved_database_url)
        try:
            await store.create_token("c", "creator", personas, token)
        finally:
            await store.aclose()

    asyncio.run(make())
    return token


def _rate(web: httpx.Client, persona: str, text: str, value: int) -> int:
    """One web chat turn, its reply rated; the reply's id."""
    answer = web.post(f"/web/personas/{persona}/messages", json={"text": text})
    assert answer.status_code == 200, answer.text
    reply: int = sse_events(answer)[-1][1]["reply"]["id"]
    assert web.post(f"/web/messages/{reply}/rating", json={"value": value}).status_code == 200
    return reply


@pytest.fixture(scope="module")
def rated(server: LiveServer) -> dict[str, tuple[int, str]]:
    """Each rated reply's id and its conversation's (the web chat does not show those)."""
    with _client(server, None) as one, _client(server, None) as two:
        replies = {
            "echo-up": _rate(one, "echo-friend", "first question", 1),
            "echo-down": _rate(two, "echo-friend", "second question", -1),
            "story-down": _rate(one, "story-teller", "tell me a story", -1),
        }
    with _client(server) as admin:
        for name, persona in (("echo-friend", "echo-friend"), ("story-teller", "story-teller")):
            assert admin.get("/api/personas/" + persona).status_code == 200, name
        listed = admin.get("/api/conversations", params={"persona": "echo-friend"}).json()
        listed["conversations"] += admin.get(
            "/api/conversations", params={"persona": "story-teller"}
        ).json()["conversations"]
        owner = {}
        for summary in listed["conversations"]:
            body = admin.get(f"/api/conversations/{summary['id']}").json()
            owner.update({m["id"]: summary["id"] for m in body["messages"]})
    return {name: (reply, owner[reply]) for name, reply in replies.items()}


def test_the_list_names_each_rated_reply_newest_first(
    server: LiveServer, rated: dict[str, tuple[int, str]]
) -> None:
    with _client(server) as admin:
        body = admin.get("/api/ratings").json()
        assert body["total"] == 3
        listed = [(r["message_id"], r["value"], r["persona"]) for r in body["ratings"]]
        assert listed == [
            (rated["story-down"][0], "down", "story-teller"),
            (rated["echo-down"][0], "down", "echo-friend"),
            (rated["echo-up"][0], "up", "echo-friend"),
        ]
        first = body["ratings"][-1]
        assert first["conversation_id"] == rated["echo-up"][1]
        assert first["source"] == "web" and first["turn_id"] and first["turn_status"] == "ok"
        assert first["reply_excerpt"]  # the reply's first characters, to recognise it by
        downs = admin.get("/api/ratings", params={"persona": "echo-friend", "value": "down"})
        assert [r["message_id"] for r in downs.json()["ratings"]] == [rated["echo-down"][0]]
        paged = admin.get("/api/ratings", params={"limit": 1, "offset": 1}).json()
        assert paged["total"] == 3 and len(paged["ratings"]) == 1
        # The reply opens with its turn and trace through the documented API.
        conversation = admin.get(f"/api/conversations/{first['conversation_id']}").json()
        turn = next(t for t in conversation["turns"] if t["id"] == first["turn_id"])
        assert turn["reply_message_id"] == first["message_id"] and turn["trace"]["sections"]


def test_a_creator_sees_only_their_own_personas_ratings(
    server: LiveServer, rated: dict[str, tuple[int, str]]
) -> None:
    token = _creator(server, "story-teller")
    with _client(server, token) as creator, _client(server, None) as anonymous:
        mine = creator.get("/api/ratings").json()
        assert [r["persona"] for r in mine["ratings"]] == ["story-teller"]
        assert creator.get("/api/ratings", params={"persona": "echo-friend"}).status_code == 404
        assert anonymous.get("/api/ratings").status_code == 401
        wrong = httpx.get(f"{server.url}/api/ratings", headers={"Authorization": "Bearer pt_wrong"})
        assert wrong.status_code == 401
        # Studio pages, signed in as that creator: the other persona's conversation is a 404.
        cookies = {"personae_studio": token}
        with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as studio:
            page = studio.get("/studio/ratings")
            assert page.status_code == 200 and "tell me a story" in page.text
            assert "first question" not in page.text and "second question" not in page.text
            assert f"/studio/conversations/{rated['story-down'][1]}" in page.text
            assert f"/studio/conversations/{rated['echo-up'][1]}" not in page.text
            other = studio.get(f"/studio/conversations/{rated['echo-up'][1]}")
            assert other.status_code == 404 and "first question" not in other.text
            own = studio.get(f"/studio/conversations/{rated['story-down'][1]}")
            assert own.status_code == 200 and "tell me a story" in own.text
            assert studio.get("/studio/ratings?persona=echo-friend").status_code == 404


def test_the_conversation_page_opens_the_rated_turns_trace(
    server: LiveServer, rated: dict[str, tuple[int, str]]
) -> None:
    reply, conversation = rated["echo-up"]
    with httpx.Client(base_url=server.url, cookies={"personae_studio": ADMIN_TOKEN}) as studio:
        page = studio.get(f"/studio/conversations/{conversation}")
        assert page.status_code == 200, page.text
        html = page.text
        rated_item = html[html.index(f'id="m{reply}"') :]
        assert "rated good" in rated_item[:2000]
        assert '<details class="trace" open>' in rated_item
        for section in ("Prompt sections", "Timings (ms)", "Model"):
            assert section in rated_item
        assert "first question" in html  # the person's message above it
    with httpx.Client(base_url=server.url) as stranger:
        signed_out = stranger.get(f"/studio/conversations/{conversation}")
        assert "Sign in" in signed_out.text and "first question" not in signed_out.text
    with httpx.Client(base_url=server.url, cookies={"personae_studio": "pt_wrong"}) as wrong:
        page = wrong.get("/studio/ratings")
        assert "Sign in" in page.text and "story" not in page.text


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "lots"},
        {"offset": -1},
        {"offset": 10**12},
        {"value": "sideways"},
        {"persona": "x" * 65},
        {"from": "2026-13-01"},
        {"from": "2026-01-02", "to": "2026-01-01"},
        {"from": "2000-01-01", "to": "2026-01-01"},
    ],
)
def test_hostile_parameters_are_a_clear_400(server: LiveServer, params: dict[str, object]) -> None:
    with _client(server) as admin:
        answer = admin.get("/api/ratings", params=params)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "conversation",
    ["0" * 5000, "%00", "%F0%9F%98%80" * 10, "..%2F..%2Fetc%2Fpasswd", "not-a-conversation"],
)
def test_odd_conversation_ids_are_not_found(server: LiveServer, conversation: str) -> None:
    with httpx.Client(base_url=server.url, cookies={"personae_studio": ADMIN_TOKEN}) as studio:
        answer = studio.get(f"/studio/conversations/{conversation}")
        assert answer.status_code in (404, 400), answer.text
        assert "Traceback" not in answer.text
