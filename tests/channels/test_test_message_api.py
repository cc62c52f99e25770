"""POST /api/channels/{kind}/{key}/test-message on a real server: one real message through the
connection's own sender to the loopback Graph / Bot API server (the exact wire bodies checked),
the platform's outcome answered back; attackers (no token, another creator, hostile recipients
and texts) refused before anything reaches the platform."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from personae.stores.sql import SqlStore
from personae.stores.tokens import new_token
from server.live import CLIENT_KEYS, LiveServer, start_server

from .platform import PHONE_ID, PlatformServer, graph_error
from .test_connections_api import ADMIN, TELEGRAM, WHATSAPP, assert_no_secret, settings_for

WA_PATH = f"/api/channels/whatsapp/{PHONE_ID}/test-message"
BOT_PATH = "/api/channels/telegram/ana-bot/test-message"


@pytest.fixture
async def api(
    tmp_path: Path, platform: PlatformServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("CONN_VERIFY", "verify-from-env")
    live = start_server(settings_for(tmp_path / "home", platform))
    async with httpx.AsyncClient(base_url=live.url, timeout=20) as client:
        for body in (WHATSAPP, TELEGRAM):
            added = await client.post("/api/channels", json=body, headers=ADMIN)
            assert added.status_code == 201, added.text
        client.live = live  # type: ignore[attr-defined]
        yield client
    live.stop()


async def _creator(live: LiveServer, *personas: str) -> dict[str, str]:
    token = new_token()
    store = await SqlStore.open(live.settings.resolved_database_url)
    try:
        await store.create_token("c", "creator", personas, token)
    finally:
        await store.aclose()
    return {"Authorization": f"Bearer {token}"}


async def test_a_test_message_goes_out_as_the_channel_sends_it(
    api: httpx.AsyncClient, platform: PlatformServer
) -> None:
    wa_body = {"to": "15550001111", "text": "Hi *there*"}
    answer = await api.post(WA_PATH, json=wa_body, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "kind": "whatsapp", "key": PHONE_ID, "to": "15550001111", "sent": True,
        "outcome": "sent", "message_ids": ["wamid.OUT1"], "code": None, "error": None,
        "retry_after": None,
    }  # fmt: skip
    assert platform.sent(f"{PHONE_ID}/messages") == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "15550001111",
            "type": "text",
            "text": {"body": "Hi _there_", "preview_url": False},
        },
    ]  # fmt: skip  (markdown italics become WhatsApp's, as every reply's do)
    bot = await api.post(BOT_PATH, json={"to": "4242"}, headers=ADMIN)
    assert bot.json()["sent"] and bot.json()["message_ids"] == ["4242:2"]
    sent = platform.sent("/sendMessage")
    assert sent == [
        {"chat_id": "4242", "parse_mode": "HTML",
         "text": "Test message from personae: this connection can send."},
    ]  # fmt: skip
    assert_no_secret(answer.text + bot.text)


async def test_the_platforms_refusal_comes_back_with_its_code(
    api: httpx.AsyncClient, platform: PlatformServer
) -> None:
    platform.fail_next.append(
        graph_error(400, 131030, "(#131030) Recipient phone number not in allowed list")
    )
    answer = await api.post(WA_PATH, json={"to": "15550009999"}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["sent"], found["outcome"], found["message_ids"]) == (False, "permanent", [])
    assert found["code"] == "131030" and "not in allowed list" in found["error"]


async def test_only_the_admin_or_the_personas_creator_may_send(
    api: httpx.AsyncClient, platform: PlatformServer
) -> None:
    live: LiveServer = api.live  # type: ignore[attr-defined]
    body = {"to": "4242"}
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {CLIENT_KEYS['alpha']}"},
    ):
        refused = await api.post(BOT_PATH, json=body, headers=headers)
        assert refused.status_code == 401, refused.text
    tutor = await _creator(live, "spanish-tutor")  # the bot's persona, not the WhatsApp one's
    hidden = await api.post(WA_PATH, json=body, headers=tutor)
    assert hidden.status_code == 404 and "GET /api/channels lists yours" in hidden.text
    assert platform.sent("/messages") == [] and platform.sent("/sendMessage") == []
    own = await api.post(BOT_PATH, json=body, headers=tutor)
    assert own.status_code == 200 and own.json()["sent"], own.text
    unknown = await api.post("/api/channels/telegram/no-bot/test-message", json=body, headers=ADMIN)
    assert unknown.status_code == 404


HOSTILE: list[tuple[Any, str]] = [
    ({}, "to"),
    ({"to": ""}, "to"),
    ({"to": 4242}, "to"),
    ({"to": "4" * 65}, "to"),
    ({"to": "42 42"}, "to"),
    ({"to": "../getMe"}, "to"),
    ({"to": "42\n42"}, "to"),
    ({"to": "４２４２"}, "to"),  # fullwidth digits
    ({"to": "4242", "text": ""}, "text"),
    ({"to": "4242", "text": "x" * 1001}, "text"),
    ({"to": "4242", "text": "bell\x07"}, "text"),
    ({"to": "4242", "text": None}, "text"),
    ({"to": "4242", "parse_mode": "MarkdownV2"}, "parse_mode"),
    (["4242"], "body"),
]


@pytest.mark.parametrize(("body", "field"), HOSTILE)
async def test_hostile_bodies_are_refused_before_the_platform(
    api: httpx.AsyncClient, platform: PlatformServer, body: Any, field: str
) -> None:
    refused = await api.post(BOT_PATH, json=body, headers=ADMIN)
    assert refused.status_code == 400, refused.text
    assert field in refused.text and len(refused.text) < 3000
    assert platform.sent("/sendMessage") == []


@pytest.mark.parametrize(
    "raw",
    [b'{"to": "4242", "text": "\\ud800"}', b"\xff\xfe", b'{"to": "42', b"[" * 5000],
)
async def test_broken_encodings_are_refused(
    api: httpx.AsyncClient, platform: PlatformServer, raw: bytes
) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    refused = await api.post(BOT_PATH, content=raw, headers=headers)
    assert refused.status_code == 400, refused.text
    assert platform.sent("/sendMessage") == []


async def test_test_messages_are_rate_limited_per_connection(
    api: httpx.AsyncClient, platform: PlatformServer
) -> None:
    """A token must not turn the operator's account into a bulk sender: after the burst the
    connection's test messages get 429 with Retry-After, and nothing more reaches the platform."""
    answers = [
        await api.post(WA_PATH, json={"to": f"1555000{n:04d}"}, headers=ADMIN) for n in range(12)
    ]
    statuses = [a.status_code for a in answers]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429], statuses
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert "test message" in answers[-1].json()["error"]["message"]
    assert len(platform.sent(f"{PHONE_ID}/messages")) == 10
    other = await api.post(BOT_PATH, json={"to": "4242"}, headers=ADMIN)  # its own budget
    assert other.status_code == 200 and other.json()["sent"]
