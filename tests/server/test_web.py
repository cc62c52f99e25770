"""The web chat's endpoints over HTTP: cookie identity, history across reloads, avatars."""

from __future__ import annotations

import httpx

from .live import LiveServer
from .test_api import sse_events


def test_page_sets_the_person_cookie(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        cookie = page.headers["set-cookie"].lower()
        assert "personae_person=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "max-age=" in cookie
        assert browser.get("/static/app.js").headers["content-type"].startswith("text/javascript")
        assert browser.get("/static/style.css").status_code == 200
        assert browser.get("/static/secret.py").status_code == 404


def test_conversation_survives_a_reload(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as browser:
        browser.get("/")
        first = browser.get("/web/personas/echo-friend/conversation").json()
        assert first["persona"]["greeting"] == "Hi! I'm Ekko. Tell me anything."
        assert first["messages"] == []
        reply = browser.post("/web/personas/echo-friend/messages", json={"text": "remember me"})
        assert sse_events(reply)[-1][1]["reply"]["content"] == "echo: remember me"
        again = browser.get("/web/personas/echo-friend/conversation").json()
        assert [(m["role"], m["content"]) for m in again["messages"]] == [
            ("user", "remember me"),
            ("assistant", "echo: remember me"),
        ]
    with httpx.Client(base_url=live.url) as stranger:  # another person sees nothing
        assert stranger.get("/web/personas/echo-friend/conversation").json()["messages"] == []


def test_web_lists_published_personas_with_avatars(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as browser:
        cards = {p["id"]: p for p in browser.get("/web/personas").json()["personas"]}
        assert "hidden-draft" not in cards
        assert cards["echo-friend"]["avatar_url"] is None
        avatar_url = cards["cooking-coach"]["avatar_url"]
        avatar = browser.get(avatar_url)
        assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/svg+xml"
        assert "sandbox" in avatar.headers["content-security-policy"]
        assert browser.get("/web/personas/echo-friend/avatar").status_code == 404
        assert browser.get("/web/personas/hidden-draft/conversation").status_code == 404


def test_web_rejects_bad_input(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url) as browser:
        url = "/web/personas/echo-friend/messages"
        too_long = browser.post(url, json={"text": "y" * 501})
        assert too_long.status_code == 413 and "500" in too_long.json()["error"]["message"]
        # A cross-site form cannot send JSON: anything else is refused.
        form = browser.post(url, content=b"text=hi", headers={"content-type": "text/plain"})
        assert form.status_code == 400
        assert browser.post("/web/personas/nobody/messages", json={"text": "hi"}).status_code == 404
