"""Abuse limits on a live server: per person and per IP address, 429 with Retry-After and
nothing stored; the blocklist (403) through the admin API; tried with several people and
addresses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from personae.settings import Settings

from .live import ADMIN_TOKEN, LiveServer, start_server, write_personas

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SAY = "/web/personas/echo-friend/messages"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("limited")
    settings = Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, load_samples=False,
        personas_dir=write_personas(home / "personas"),
        rate_person_per_min=0.5, rate_person_burst=2,  # a token every 2 minutes
        rate_ip_per_min=0.5, rate_ip_burst=5,
    )  # fmt: skip
    live = start_server(settings)
    yield live
    live.stop()


def _clear(server: LiveServer) -> None:
    """Drop every bucket: each test starts with full ones."""
    import sqlite3

    with sqlite3.connect(server.settings.home / "personae.db") as db:
        db.execute("DELETE FROM rate_buckets")


def test_a_person_over_the_limit_gets_429_and_loses_nothing(limited: LiveServer) -> None:
    _clear(limited)
    with httpx.Client(base_url=limited.url, timeout=30) as browser:
        browser.get("/")
        assert [browser.post(SAY, json={"text": f"m{i}"}).status_code for i in range(2)] == [
            200
        ] * 2
        refused = browser.post(SAY, json={"text": "m2"})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 120
        assert "nothing was stored" in refused.json()["error"]["message"]
        stored = browser.get("/web/personas/echo-friend/conversation").json()["messages"]
        assert [m["content"] for m in stored if m["role"] == "user"] == ["m0", "m1"]
        # Too large: refused as such (413), without spending the person's tokens.
        huge = browser.post(SAY, json={"text": "x" * (limited.settings.max_message_chars + 1)})
        assert huge.status_code == 413


def test_many_people_from_one_address_share_its_limit(limited: LiveServer) -> None:
    _clear(limited)
    statuses = []
    # As a local reverse proxy forwards them (uvicorn trusts X-Forwarded-For from loopback).
    remote = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(7):  # a new cookie each time: a new person, the same IP
        with httpx.Client(base_url=limited.url, timeout=30, headers=remote) as browser:
            browser.get("/")
            statuses.append(browser.post(SAY, json={"text": "hi"}).status_code)
    assert statuses == [200] * 5 + [429] * 2
    with httpx.Client(base_url=limited.url, timeout=30) as local:  # loopback: exempt
        local.get("/")
        assert local.post(SAY, json={"text": "hi"}).status_code == 200
    other = {"X-Forwarded-For": "198.51.100.4"}  # another address: its own bucket
    with httpx.Client(base_url=limited.url, timeout=30, headers=other) as browser:
        browser.get("/")
        assert browser.post(SAY, json={"text": "hi"}).status_code == 200


def test_the_blocklist_refuses_an_address_and_a_person(limited: LiveServer) -> None:
    _clear(limited)
    with httpx.Client(base_url=limited.url, headers=ADMIN, timeout=30) as admin:
        bad = admin.post("/api/blocklist", json={"kind": "ip", "value": "not-an-ip"})
        assert bad.status_code == 400 and "IP address" in bad.text
        assert (
            admin.post("/api/blocklist", json={"kind": "ip", "value": "127.0.0.1"}).status_code
            == 201
        )
        with httpx.Client(base_url=limited.url, timeout=30) as browser:
            browser.get("/")
            assert browser.post(SAY, json={"text": "hi"}).status_code == 403
        assert admin.delete("/api/blocklist/ip/127.0.0.1").status_code == 200
        assert admin.delete("/api/blocklist/ip/127.0.0.1").status_code == 404
        opened = admin.post("/api/conversations", json={"persona": "echo-friend", "user": "troll"})
        conversation, person = opened.json()["id"], opened.json()["person_id"]
        path = f"/api/conversations/{conversation}/messages"
        assert admin.post(path, json={"text": "hi"}).status_code == 200
        block = {"kind": "person", "value": person, "reason": "spam"}
        assert admin.post("/api/blocklist", json=block).status_code == 201
        assert admin.post(path, json={"text": "again"}).status_code == 403
        assert [b["value"] for b in admin.get("/api/blocklist").json()["blocked"]] == [person]
