"""The studio's API against a live server: drafts and revisions with optimistic concurrency,
diff, rollback and publish (what the channels serve), validation without saving, the
draft's test chat with its trace, and creators kept to their own personas."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from cards.cardfiles import REAL_CARD
from personae.settings import Settings
from personae.stores.sql import SqlStore
from personae.stores.tokens import new_token

from .live import ADMIN_TOKEN, LiveServer, start_server, write_personas
from .test_api import sse_events

DRAFT = {"id": "studio-mia", "name": "Mia", "greeting": "Hi, I'm Mia.", "tagline": "First"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("studio-api")
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


def test_drafts_revisions_conflict_diff_rollback_publish(server: LiveServer) -> None:
    with _client(server) as api, _client(server, None) as web:
        made = api.put("/api/personas/studio-mia/draft", json=DRAFT)
        assert made.status_code == 200, made.text
        assert (made.json()["revision"], made.json()["status"]) == (1, "draft")
        # A draft is not served: the web chat does not know it.
        assert web.get("/web/personas/studio-mia/conversation").status_code == 404

        second = api.put(
            "/api/personas/studio-mia/draft",
            json={**DRAFT, "tagline": "Second", "style": {"do": ["Be brief"]}},
            headers={"If-Match": '"1"'},
        )
        assert second.json()["revision"] == 2
        # Another editor still on revision 1: refused, naming revision 2; nothing written.
        stale = api.put(
            "/api/personas/studio-mia/draft",
            json={**DRAFT, "tagline": "Overwrite"},
            headers={"If-Match": '"1"'},
        )
        assert stale.status_code == 409
        assert "revision 2" in stale.json()["error"]["message"]
        assert stale.headers["etag"] == '"2"'
        draft = api.get("/api/personas/studio-mia/draft")
        assert draft.json()["persona"]["tagline"] == "Second"
        assert draft.headers["etag"] == '"2"'

        diff = api.get("/api/personas/studio-mia/diff", params={"from": 1, "to": 2}).json()
        fields = {c["field"]: (c["before"], c["after"]) for c in diff["changes"]}
        assert fields["tagline"] == ("First", "Second")
        assert fields["style.do"] == ([], ["Be brief"])
        assert "-tagline: First" in diff["unified"] and "+tagline: Second" in diff["unified"]

        published = api.post("/api/personas/studio-mia/publish", json={"revision": 2})
        assert published.json()["status"] == "published"
        card = web.get("/web/personas/studio-mia/conversation").json()["persona"]
        assert card["tagline"] == "Second"

        back = api.post(
            "/api/personas/studio-mia/rollback", json={"revision": 1}, headers={"If-Match": "2"}
        )
        assert (back.json()["revision"], back.json()["status"]) == (3, "changed")
        # Channels still serve revision 2 until revision 3 is published.
        assert web.get("/web/personas/studio-mia/conversation").json()["persona"]["tagline"] == (
            "Second"
        )
        api.post("/api/personas/studio-mia/publish", json={"revision": 3})
        assert web.get("/web/personas/studio-mia/conversation").json()["persona"]["tagline"] == (
            "First"
        )
        history = api.get("/api/personas/studio-mia/revisions").json()["revisions"]
        assert [r["revision"] for r in history] == [1, 2, 3]


def test_validate_lists_problems_and_saves_nothing(server: LiveServer) -> None:
    with _client(server) as api:
        bad = {"id": "studio-bad", "name": "", "greeting": "Hi", "model": {"temperature": 9}}
        found = api.post("/api/personas/validate", json=bad)
        assert found.status_code == 422
        where = {p["location"] for p in found.json()["error"]["problems"]}
        assert {"name", "model.temperature"} <= where
        assert api.get("/api/personas/studio-bad/draft").status_code == 404
        yaml_body = "id: studio-ok\nname: Ok\ngreeting: Hello\n"
        ok = api.post(
            "/api/personas/validate",
            content=yaml_body,
            headers={"Content-Type": "application/yaml"},
        ).json()
        assert ok["valid"] and ok["persona"]["name"] == "Ok" and "greeting: Hello" in ok["yaml"]
        refused = api.put("/api/personas/studio-bad/draft", json=bad)
        assert refused.status_code == 422
        assert api.get("/api/personas/studio-bad/draft").status_code == 404


def test_test_chat_runs_the_draft_with_its_trace(server: LiveServer) -> None:
    with _client(server) as api:
        api.put("/api/personas/studio-tess/draft", json={**DRAFT, "id": "studio-tess"})
        answer = api.post(
            "/api/personas/studio-tess/test",
            json={"text": "hello there", "history": [{"role": "user", "content": "hi"}]},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["revision"] == 1 and "hello there" in body["reply"]
        assert body["trace"]["sections"] and body["trace"]["timings"]["done_ms"] >= 0
        # Nothing stored: the draft has no conversations.
        listed = api.get("/api/conversations", params={"persona": "studio-tess"}).json()
        assert listed["conversations"] == []


def test_creators_reach_only_their_own_personas(server: LiveServer) -> None:
    with _client(server) as api:
        api.put("/api/personas/studio-own/draft", json={**DRAFT, "id": "studio-own"})
        api.put("/api/personas/studio-other/draft", json={**DRAFT, "id": "studio-other"})
    token = _creator(server, "studio-own")
    with _client(server, token) as mine:
        assert mine.get("/api/personas/studio-own/draft").status_code == 200
        for method, path, body in [
            ("GET", "/api/personas/studio-other/draft", None),
            ("PUT", "/api/personas/studio-other/draft", {**DRAFT, "id": "studio-other"}),
            ("GET", "/api/personas/studio-other/diff?from=1&to=1", None),
            ("POST", "/api/personas/studio-other/publish", {"revision": 1}),
            ("POST", "/api/personas/studio-other/rollback", {"revision": 1}),
            ("POST", "/api/personas/studio-other/test", {"text": "hi"}),
            ("GET", "/api/personas/studio-other/revisions/1", None),
        ]:
            answer = mine.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
            assert "Mia" not in answer.text
    with _client(server, None) as anonymous, _client(server, "pt_wrong") as wrong:
        for who in (anonymous, wrong):
            assert who.get("/api/personas/studio-own/draft").status_code == 401
            assert who.post("/api/personas/validate", json=DRAFT).status_code == 401


def test_hostile_revision_headers_and_sizes(server: LiveServer) -> None:
    with _client(server) as api:
        api.put("/api/personas/studio-h/draft", json={**DRAFT, "id": "studio-h"})
        for value in ("abc", "1" * 40, "-1"):
            answer = api.put(
                "/api/personas/studio-h/draft",
                json={**DRAFT, "id": "studio-h"},
                headers={"If-Match": value},
            )
            assert answer.status_code == 400 and "If-Match" in answer.text
        huge = {"text": "x", "history": [{"role": "user", "content": "y"}] * 101}
        assert api.post("/api/personas/studio-h/test", json=huge).status_code == 400
        assert api.get("/api/personas/studio-h/revisions/99").status_code == 404
        big = "a" * (server.settings.max_body_bytes + 10)
        assert api.put("/api/personas/studio-h/draft", content=big).status_code == 413


def _web_reply(web: httpx.Client, slug: str, text: str) -> int:
    answer = web.post(f"/web/personas/{slug}/messages", json={"text": text})
    assert answer.status_code == 200, answer.text
    done = sse_events(answer)[-1][1]
    reply_id: int = done["reply"]["id"]
    return reply_id


def test_ratings_and_analytics(server: LiveServer) -> None:
    with _client(server, None) as web, _client(server, None) as stranger:
        first = _web_reply(web, "echo-friend", "private words one")
        _web_reply(web, "echo-friend", "private words two")
        assert web.post(f"/web/messages/{first}/rating", json={"value": 1}).status_code == 200
        # Someone else's reply, an inbound message, a bad value: refused.
        stranger.get("/")
        assert stranger.post(f"/web/messages/{first}/rating", json={"value": -1}).status_code == 404
        assert web.post(f"/web/messages/{first - 1}/rating", json={"value": 1}).status_code == 404
        assert web.post(f"/web/messages/{first}/rating", json={"value": 5}).status_code == 400
    with _client(server) as api:
        found = api.get("/api/analytics", params={"persona": "echo-friend"})
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["totals"]["messages"] == 2 and body["totals"]["replies"] == 2
        assert body["totals"]["people"] == 1 and body["ratings"] == {"up": 1, "down": 0}
        assert body["latency"]["latency_p50_ms"] is not None
        assert "private" not in found.text
        csv_answer = api.get("/api/analytics", params={"persona": "echo-friend", "format": "csv"})
        assert csv_answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in csv_answer.headers["content-disposition"]
        assert "totals,,replies,2" in csv_answer.text and "private" not in csv_answer.text
        assert (
            api.get("/api/analytics", params={"from": "2026-01-02", "to": "2026-01-01"}).status_code
            == 400
        )
        assert (
            api.get("/api/analytics", params={"from": "2000-01-01", "to": "2026-01-01"}).status_code
            == 400
        )
    token = _creator(server, "studio-own")
    with _client(server, token) as creator, _client(server, None) as anonymous:
        assert creator.get("/api/analytics", params={"persona": "echo-friend"}).status_code == 404
        assert creator.get("/api/analytics").json()["personas"] == ["studio-own"]
        assert anonymous.get("/api/analytics").status_code == 401


def test_the_studio_cookie_counts_only_with_the_studio_header(server: LiveServer) -> None:
    """A cross-site form can send the cookie but not the header: the cookie alone is nothing."""
    cookies = {"personae_studio": ADMIN_TOKEN}
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as browser:
        assert browser.get("/api/analytics").status_code == 401
        assert browser.put("/api/personas/studio-x/draft", json=DRAFT).status_code == 401
        with_header = browser.get("/api/analytics", headers={"X-Personae-Studio": "1"})
        assert with_header.status_code == 200
        page = browser.get("/studio")
        assert page.status_code == 200 and "Sign in" not in page.text
    with httpx.Client(base_url=server.url, cookies={"personae_studio": "pt_wrong"}) as stranger:
        page = stranger.get("/studio/personas/echo-friend")
        assert "Sign in" in page.text and "Ekko" not in page.text
        answer = stranger.post("/studio/sign-in", data={"token": "pt_wrong"})
        assert answer.status_code == 401 and "Ekko" not in answer.text
        long = stranger.post("/studio/sign-in", content=b"token=" + b"a" * 10_000)
        assert long.status_code == 400


def test_a_creator_imports_a_card_into_their_own_persona_only(server: LiveServer) -> None:
    card = REAL_CARD.read_bytes()
    with _client(server) as api:
        for slug in ("studio-card-own", "studio-card-other"):
            api.put(f"/api/personas/{slug}/draft", json={**DRAFT, "id": slug})
    token = _creator(server, "studio-card-own")
    with _client(server, token) as mine, _client(server) as api:
        made = mine.post("/api/personas/studio-card-own/card", content=card)
        assert made.status_code == 201, made.text
        assert made.json()["persona"]["id"] == "studio-card-own"
        assert made.json()["persona"]["name"] == "Seraphina"
        assert made.json()["card"]["lorebook_entries"] > 0
        assert api.get("/api/personas/studio-card-own/draft").json()["revision"] == 2
        # Another creator's persona: as if it did not exist, and untouched.
        other = mine.post("/api/personas/studio-card-other/card", content=card)
        assert other.status_code == 404 and "Mia" not in other.text
        after = api.get("/api/personas/studio-card-other/draft").json()
        assert (after["revision"], after["persona"]["name"]) == (1, "Mia")
        # The admin import stays admin-only; bad bytes are a clear 400 and nothing is saved.
        assert mine.post("/api/cards", content=card).status_code == 403
        for hostile in (b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, b'{"spec": 1}'):
            bad = mine.post("/api/personas/studio-card-own/card", content=hostile)
            assert bad.status_code == 400, bad.text
            assert bad.json()["error"]["message"]
        assert api.get("/api/personas/studio-card-own/draft").json()["revision"] == 2
    with _client(server, None) as anonymous:
        answer = anonymous.post("/api/personas/studio-card-own/card", content=card)
        assert answer.status_code == 401


def test_a_creator_exports_only_their_own_personas_cards(server: LiveServer) -> None:
    with _client(server) as api:
        for slug in ("studio-export-own", "studio-export-other"):
            api.put(f"/api/personas/{slug}/draft", json={**DRAFT, "id": slug})
    token = _creator(server, "studio-export-own")
    with _client(server, token) as mine:
        card = mine.get("/api/personas/studio-export-own/card", params={"format": "v3"})
        assert card.status_code == 200, card.text
        assert card.json()["spec"] == "chara_card_v3" and card.json()["data"]["name"] == "Mia"
        png = mine.get("/api/personas/studio-export-own/card", params={"png": "true"})
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        other = mine.get("/api/personas/studio-export-other/card")
        assert other.status_code == 404 and "Mia" not in other.text
    with _client(server, None) as anonymous:
        assert anonymous.get("/api/personas/studio-export-own/card").status_code == 401


def test_analytics_days_at_the_calendars_edge_are_a_clear_400(server: LiveServer) -> None:
    with _client(server) as api:
        for query in ({"to": "0001-01-01"}, {"to": "9999-12-31"}):
            answer = api.get("/api/analytics", params=query)
            assert answer.status_code == 400, answer.text
            assert "out of range" in answer.json()["error"]["message"]
        cookies = {"personae_studio": ADMIN_TOKEN}
        with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as studio:
            page = studio.get("/studio/analytics", params={"to": "0001-01-01"})
            assert page.status_code == 200
