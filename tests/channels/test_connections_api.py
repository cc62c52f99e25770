"""/api/channels on a real server, used as an attacker would, its credential checks answered
by the loopback Graph / Bot API server; connections survive a restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from personae.settings import Settings
from server.live import ADMIN_TOKEN, CLIENT_KEYS, LiveServer, start_server

from .platform import (
    BOT_TOKEN,
    IG_ID,
    IG_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    PHONE_ID,
    WA_TOKEN,
    PlatformServer,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Literal secrets long enough to show their last four characters, and ones that must never.
APP_SECRET = "app-secret-literal-0123456789"
WHATSAPP = {
    "kind": "whatsapp", "persona": "cooking-coach", "phone_number_id": PHONE_ID,
    "access_token": WA_TOKEN, "app_secret": APP_SECRET, "verify_token": "env:CONN_VERIFY",
}  # fmt: skip
TELEGRAM = {
    "kind": "telegram", "persona": "spanish-tutor", "name": "ana-bot",
    "bot_token": BOT_TOKEN, "mode": "polling",
}  # fmt: skip
MESSENGER = {
    "kind": "messenger", "persona": "cooking-coach", "page_id": PAGE_ID,
    "page_access_token": PAGE_TOKEN, "app_secret": APP_SECRET, "verify_token": "v-token-1",
}  # fmt: skip
INSTAGRAM = {
    "kind": "instagram", "persona": "cooking-coach", "account_id": IG_ID,
    "access_token": IG_TOKEN, "app_secret": APP_SECRET, "verify_token": "v-token-2",
}  # fmt: skip
SECRETS = (WA_TOKEN, APP_SECRET, BOT_TOKEN, PAGE_TOKEN, IG_TOKEN, "v-token-1", "v-token-2")


def settings_for(home: Path, platform: PlatformServer, **extra: Any) -> Settings:
    return Settings(
        home=home, engine="scripted", admin_token=ADMIN_TOKEN, api_keys=CLIENT_KEYS,
        graph_api_base=platform.url, telegram_api_base=platform.url, **extra,
    )  # fmt: skip


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The operator's environment: where `env:NAME` secrets come from.
    monkeypatch.setenv("CONN_VERIFY", "verify-from-env")
    yield


@pytest.fixture
async def server(
    tmp_path: Path, platform: PlatformServer, environment: None
) -> AsyncIterator[LiveServer]:
    live = start_server(settings_for(tmp_path / "home", platform))
    yield live
    live.stop()


@pytest.fixture
async def api(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


async def test_every_route_needs_the_admin_token(api: httpx.AsyncClient) -> None:
    added = await api.post("/api/channels", json=TELEGRAM, headers=ADMIN)
    assert added.status_code == 201, added.text
    routes = [
        ("GET", "/api/channels", None),
        ("POST", "/api/channels", TELEGRAM),
        ("DELETE", "/api/channels/telegram/ana-bot", None),
        ("POST", "/api/channels/telegram/ana-bot/test", None),
    ]
    callers = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {CLIENT_KEYS['alpha']}"},  # a client's key is no admin
        {"Authorization": ADMIN_TOKEN},  # no scheme
    ]
    for method, path, body in routes:
        for headers in callers:
            answer = await api.request(method, path, json=body, headers=headers)
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.json()["error"]["type"] == "invalid_api_key"
            assert_no_secret(answer.text)
    assert (await api.get("/api/channels", headers=ADMIN)).json()["channels"][0]["key"] == "ana-bot"


async def test_add_list_check_and_remove_with_secrets_masked(
    api: httpx.AsyncClient, platform: PlatformServer
) -> None:
    for body in (WHATSAPP, TELEGRAM, MESSENGER, INSTAGRAM):
        added = await api.post("/api/channels", json=body, headers=ADMIN)
        assert added.status_code == 201, added.text
        assert_no_secret(added.text)
    listed = await api.get("/api/channels", headers=ADMIN)
    assert_no_secret(listed.text)
    shown = {(c["kind"], c["key"]): c for c in listed.json()["channels"]}
    assert shown[("whatsapp", PHONE_ID)] == {
        "kind": "whatsapp", "key": PHONE_ID, "persona": "cooking-coach", "source": "stored",
        "fields": {
            "phone_number_id": PHONE_ID, "access_token": "••••",
            "app_secret": "••••" + APP_SECRET[-4:], "verify_token": "env:CONN_VERIFY",
        },
    }  # fmt: skip
    checks = {}
    for kind, key in shown:
        answer = await api.post(f"/api/channels/{kind}/{key}/test", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        assert_no_secret(answer.text)
        checks[kind] = answer.json()
    assert checks["whatsapp"]["account"] == {
        "id": PHONE_ID,
        "name": "Ana Tutor",
        "phone": "+1 555-010-0000",
    }
    assert checks["telegram"]["account"] == {"id": "123456", "username": "ana_bot", "name": "Ana"}
    assert checks["messenger"]["account"] == {"id": PAGE_ID, "name": "Cooking Coach"}
    assert checks["instagram"]["account"] == {"id": IG_ID, "name": "cooking.coach"}
    assert all(c["ok"] and c["outcome"] == "ok" for c in checks.values())
    # The exact calls: WhatsApp's phone number node, the page's own /me, the IG account, getMe.
    paths = [r.path for r in platform.seen]
    assert f"/v23.0/{PHONE_ID}" in paths and f"/bot{BOT_TOKEN}/getMe" in paths
    assert "/v23.0/me?fields=id,name" in paths and f"/v23.0/{IG_ID}?fields=id,username" in paths
    gone = await api.delete(f"/api/channels/whatsapp/{PHONE_ID}", headers=ADMIN)
    assert gone.json() == {"kind": "whatsapp", "key": PHONE_ID, "deleted": True}
    again = await api.delete(f"/api/channels/whatsapp/{PHONE_ID}", headers=ADMIN)
    assert again.status_code == 404


async def test_a_failed_check_says_why_without_the_secret(api: httpx.AsyncClient) -> None:
    wrong_bot = {**TELEGRAM, "bot_token": "999:not-the-right-token-xyz"}
    wrong_page = {**MESSENGER, "page_access_token": WA_TOKEN}  # a token of another account
    for body in (wrong_bot, wrong_page):
        assert (await api.post("/api/channels", json=body, headers=ADMIN)).status_code == 201
    bot = (await api.post("/api/channels/telegram/ana-bot/test", headers=ADMIN)).json()
    assert (bot["ok"], bot["outcome"], bot["code"], bot["error"]) == (
        False,
        "permanent",
        "401",
        "Unauthorized",
    )
    page = await api.post(f"/api/channels/messenger/{PAGE_ID}/test", headers=ADMIN)
    assert page.json()["code"] == "wrong_account"
    assert "not-the-right-token" not in page.text + json.dumps(bot)


async def test_unknown_kinds_and_keys_get_404_with_the_closest_match(
    api: httpx.AsyncClient,
) -> None:
    await api.post("/api/channels", json=TELEGRAM, headers=ADMIN)
    kind = await api.delete("/api/channels/telegrm/ana-bot", headers=ADMIN)
    assert kind.status_code == 404 and "did you mean 'telegram'?" in kind.text
    key = await api.post("/api/channels/telegram/ana-bott/test", headers=ADMIN)
    assert key.status_code == 404 and "did you mean 'ana-bot'?" in key.json()["error"]["message"]
    huge = await api.delete("/api/channels/telegram/" + "b" * 5000, headers=ADMIN)
    assert huge.status_code == 404 and len(huge.text) < 1000


async def _refused(api: httpx.AsyncClient, body: Any, status: int = 422) -> dict[str, Any]:
    answer = await api.post("/api/channels", json=body, headers=ADMIN)
    assert answer.status_code == status, answer.text
    assert len(answer.text) < 4000  # nothing hostile is echoed back whole
    assert_no_secret(answer.text)
    error: dict[str, Any] = answer.json()["error"]
    return error


async def test_invalid_connections_list_every_problem(api: httpx.AsyncClient) -> None:
    unknown = await _refused(api, {**WHATSAPP, "kind": "whatsap"})
    assert unknown["problems"][0]["hint"] == "did you mean 'whatsapp'?"
    wrong = await _refused(
        api, {**WHATSAPP, "persona": "cooking-coch", "acess_token": "x", "app_secret": "env:NOPE"}
    )
    found = {p["location"]: p for p in wrong["problems"]}
    assert found["whatsapp.persona"]["hint"] == "did you mean 'cooking-coach'?"
    assert found["whatsapp.acess_token"]["hint"] == "did you mean 'access_token'?"
    assert found["whatsapp.app_secret"]["message"] == "NOPE is not set"
    assert wrong["type"] == "connection_invalid"
    webhook_bot = await _refused(api, {**TELEGRAM, "mode": "webhook"})
    assert "secret_token" in webhook_bot["problems"][0]["message"]


async def test_hostile_bodies_are_refused_cleanly(api: httpx.AsyncClient) -> None:
    long_id = await _refused(api, {**WHATSAPP, "phone_number_id": "1" * 100_000})
    assert long_id["problems"][0]["message"] == "not a valid id"
    long_secret = await _refused(api, {**WHATSAPP, "access_token": "s" * 5000})
    assert long_secret["problems"][0]["value"] is None  # a secret is never echoed
    await _refused(api, {**TELEGRAM, "name": "../../etc"})
    await _refused(api, {**TELEGRAM, "name": "bot\u202eevil"})
    await _refused(api, {**WHATSAPP, "phone_number_id": 106540352242922})  # must be a string
    await _refused(api, {**WHATSAPP, "kind": 7}, 400)
    await _refused(api, [WHATSAPP], 400)
    for raw in (b"{", b"\xff\xfe", b'{"kind": "telegram", "name": "\\ud800"}'):
        answer = await api.post(
            "/api/channels", content=raw, headers={**ADMIN, "Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (raw, answer.text)
    assert (await api.get("/api/channels", headers=ADMIN)).json() == {"channels": []}


async def test_connections_survive_a_restart(tmp_path: Path, platform: PlatformServer) -> None:
    settings = settings_for(tmp_path / "home", platform)
    first = start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=first.url) as api:
            assert (await api.post("/api/channels", json=TELEGRAM, headers=ADMIN)).is_success
            conflict = await _refused(api, TELEGRAM, 400)
            assert "already connected; remove it first" in conflict["message"]
    finally:
        first.stop()
    second = start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=second.url) as api:
            listed = (await api.get("/api/channels", headers=ADMIN)).json()["channels"]
            assert [(c["kind"], c["key"], c["source"]) for c in listed] == [
                ("telegram", "ana-bot", "stored")
            ]
            check = await api.post("/api/channels/telegram/ana-bot/test", headers=ADMIN)
            assert check.json()["ok"] is True
    finally:
        second.stop()


CHANNELS_FILE = f"""\
telegram:
  - {{persona: spanish-tutor, name: file-bot, bot_token: env:CONN_BOT, mode: polling}}
whatsapp:
  - persona: cooking-coach
    phone_number_id: "{PHONE_ID}"
    access_token: env:CONN_WA
    app_secret: env:CONN_VERIFY
    verify_token: env:CONN_VERIFY
"""


async def test_file_connections_are_listed_read_only(
    tmp_path: Path, platform: PlatformServer, monkeypatch: pytest.MonkeyPatch, environment: None
) -> None:
    monkeypatch.setenv("CONN_BOT", BOT_TOKEN)
    monkeypatch.setenv("CONN_WA", WA_TOKEN)
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS_FILE)
    live = start_server(settings_for(tmp_path / "home", platform, channels=path))
    try:
        async with httpx.AsyncClient(base_url=live.url) as api:
            listed = await api.get("/api/channels", headers=ADMIN)
            assert_no_secret(listed.text)
            bot = listed.json()["channels"][0]
            assert (bot["source"], bot["fields"]["bot_token"]) == ("file", "env:CONN_BOT")
            removed = await api.delete("/api/channels/telegram/file-bot", headers=ADMIN)
            assert removed.status_code == 400
            assert f"declared in the channels file {path}" in removed.text
            assert "remove it from that file" in removed.text
            shadow = await _refused(api, {**WHATSAPP}, 400)
            assert "edit that file" in shadow["message"]
            check = await api.post(f"/api/channels/whatsapp/{PHONE_ID}/test", headers=ADMIN)
            assert check.json()["ok"] is True  # the secret came from the environment
    finally:
        live.stop()
