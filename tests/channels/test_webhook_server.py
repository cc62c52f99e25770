"""Webhooks end to end: signed platform payloads into a real server on loopback, the replies
landing in its outbox once, read receipts and media calls reaching a loopback platform."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import stat
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from personae.settings import Settings
from server.live import LiveServer, start_server, write_personas

from .harness import (
    APP_SECRET,
    BOT,
    HARNESSES,
    PSID,
    TG_CHAT,
    TG_SECRET,
    VERIFY_TOKEN,
    WA_USER,
    Harness,
    fb_envelope,
    meta_bytes,
    wa_envelope,
    wa_messages,
)
from .platform import (
    BOT_TOKEN,
    GRAPH_VERSION,
    IG_ID,
    IG_TOKEN,
    PAGE_ID,
    PAGE_TOKEN,
    PHONE_ID,
    WA_TOKEN,
    PlatformServer,
)

WA, MESSENGER, INSTAGRAM, TELEGRAM = HARNESSES
POLL_BOT = "poll-bot"


def _channels_file(folder: Path) -> Path:
    meta = f"app_secret: {APP_SECRET}\n    verify_token: {VERIFY_TOKEN}"
    text = f"""
    whatsapp:
      - persona: echo-friend
        phone_number_id: "{PHONE_ID}"
        access_token: {WA_TOKEN}
        {meta.replace("    ", "        ")}
    messenger:
      - persona: echo-friend
        page_id: "{PAGE_ID}"
        page_access_token: {PAGE_TOKEN}
        {meta.replace("    ", "        ")}
    instagram:
      - persona: echo-friend
        account_id: "{IG_ID}"
        access_token: {IG_TOKEN}
        {meta.replace("    ", "        ")}
    telegram:
      - {{persona: echo-friend, name: {BOT}, bot_token: "{BOT_TOKEN}", secret_token: {TG_SECRET}}}
      - {{persona: echo-friend, name: {POLL_BOT}, bot_token: "{BOT_TOKEN}", mode: polling}}
    """
    path = folder / "channels.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
async def platform() -> AsyncIterator[PlatformServer]:
    state = PlatformServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state


@pytest.fixture
async def server(platform: PlatformServer, tmp_path: Path) -> AsyncIterator[LiveServer]:
    settings = Settings(
        home=tmp_path, engine="scripted", load_samples=False, admin_token="t" * 20,
        personas_dir=write_personas(tmp_path / "personas"), channels=_channels_file(tmp_path),
        graph_api_base=platform.url, graph_api_version=GRAPH_VERSION,
        telegram_api_base=platform.url, max_body_bytes=64 * 1024,
        rate_person_per_min=0,  # bursts here test acknowledgement (limits: test_abuse_channels)
    )  # fmt: skip
    live = await asyncio.to_thread(start_server, settings)
    yield live
    await asyncio.to_thread(live.stop)


@pytest.fixture
async def web(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


def rows(server: LiveServer, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with sqlite3.connect(server.settings.home / "personae.db") as db:
        return db.execute(sql, params).fetchall()


async def until(server: LiveServer, sql: str, count: int, timeout_s: float = 20) -> list[Any]:
    """The rows of ``sql`` once there are ``count`` of them (more is a failure too)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = rows(server, sql)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sql}: {len(rows(server, sql))} rows, expected {count}")


async def post(
    web: httpx.AsyncClient, h: Harness, body: bytes, good: bool = True
) -> httpx.Response:
    return await web.post(h.webhook_path, content=body, headers=h.headers(body, good))


OUTBOX = "SELECT channel, payload FROM outbox ORDER BY id"


@pytest.mark.parametrize("h", HARNESSES, ids=[h.name for h in HARNESSES])
async def test_a_text_message_becomes_one_reply_in_the_outbox_and_is_acknowledged(
    h: Harness, web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    mid = "1001" if h.name == "telegram" else f"mid.{h.name}.1"
    answer = await post(web, h, h.text_update("hola", mid))
    assert answer.status_code == 200, answer.text
    [(channel, payload)] = await until(server, OUTBOX, 1)
    chat = str(TG_CHAT) if h.name == "telegram" else h.sender
    assert channel == h.name
    assert json.loads(payload) == {
        "connection": h.connection.key, "chat_id": chat, "text": "echo: hola",
        "part": 1, "parts": 1,
    }  # fmt: skip
    [(person_channel, external_id)] = rows(
        server,
        "SELECT c.channel, m.external_id FROM messages m JOIN conversations c "
        "ON c.id = m.conversation_id WHERE m.role = 'user'",
    )
    assert person_channel == f"{h.name}:{h.connection.key}"
    assert external_id == h.message_id(mid)
    suffix = "/sendChatAction" if h.name == "telegram" else h.send_suffix
    # The read receipt and typing indicator reach the platform (the reply itself, delivered
    # from the outbox, may go to the same endpoint: tests/delivery checks its body).
    acks = h.ack_bodies(chat, h.message_id(mid))
    deadline = time.monotonic() + 10
    while not all(body in platform.sent(suffix) for body in acks):
        assert time.monotonic() < deadline, platform.sent(suffix)
        await asyncio.sleep(0.05)


async def test_redeliveries_sequential_and_concurrent_store_one_message_one_job_one_reply(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    body = WA.text_update("same", "wamid.SAME")
    answers = [await post(web, WA, body) for _ in range(2)]
    answers += await asyncio.gather(*(post(web, WA, body) for _ in range(6)))
    assert [a.status_code for a in answers] == [200] * 8
    await until(server, OUTBOX, 1)
    await asyncio.sleep(0.5)  # a duplicate would have been written by now
    assert len(rows(server, OUTBOX)) == 1
    assert rows(server, "SELECT count(*) FROM messages WHERE role = 'user'") == [(1,)]
    assert rows(server, "SELECT count(*) FROM work WHERE kind = 'turn'") == [(1,)]


async def test_bad_requests_store_nothing(web: httpx.AsyncClient, server: LiveServer) -> None:
    body = WA.text_update("hola", "wamid.BAD")
    assert (await post(web, WA, body, good=False)).status_code == 403
    assert (await web.post("/webhooks/whatsapp", content=body)).status_code == 403
    tg = TELEGRAM.text_update("hola", "7")
    assert (await post(web, TELEGRAM, tg, good=False)).status_code == 403
    not_json = b"{not json"
    assert (await post(web, WA, not_json)).status_code == 400
    unknown = WA.text_update("hola", "wamid.UNK", account="999999999")
    assert (await post(web, WA, unknown)).status_code == 200
    huge = WA.text_update("x" * 70_000, "wamid.BIG")
    assert (await post(web, WA, huge)).status_code == 413
    assert (await web.post("/webhooks/nowhere", content=b"{}")).status_code == 404
    await asyncio.sleep(0.3)
    assert rows(server, "SELECT count(*) FROM messages") == [(0,)]


async def test_meta_handshake_and_no_api_key_needed(web: httpx.AsyncClient) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"}
    answer = await web.get("/webhooks/whatsapp", params=query)
    assert (answer.status_code, answer.text) == (200, "42")
    query["hub.verify_token"] = "wrong"
    assert (await web.get("/webhooks/messenger", params=query)).status_code == 403
    spec = (await web.get("/openapi.json")).json()
    assert not [p for p in spec["paths"] if p.startswith("/webhooks")]


async def test_a_lone_surrogate_in_a_signed_body_is_accepted(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    body = WA.text_update("hi", "wamid.SUR").replace(b'"hi"', b'"hi \\ud800"')
    assert (await post(web, WA, body)).status_code == 200
    [(_, payload)] = await until(server, OUTBOX, 1)
    assert json.loads(payload)["text"] == "echo: hi ?"


async def test_a_burst_from_one_person_is_answered_in_order(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    texts = [f"n{i}" for i in range(6)]
    batch = [
        {"from": WA_USER, "id": f"wamid.B{i}", "timestamp": "1749416383", "type": "text",
         "text": {"body": t}}
        for i, t in enumerate(texts[:3])
    ]  # fmt: skip
    assert (await post(web, WA, meta_bytes(wa_messages(*batch)))).status_code == 200
    for i, t in enumerate(texts[3:], start=3):
        assert (await post(web, WA, WA.text_update(t, f"wamid.B{i}"))).status_code == 200
    found = await until(server, OUTBOX, 6)
    assert [json.loads(p)["text"] for _, p in found] == [f"echo: {t}" for t in texts]


async def test_media_is_fetched_and_stored_privately_and_refused_media_is_said(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    photo = _jpeg()
    platform.media["MEDIA1"] = ("image/jpeg", photo)
    platform.media["MEDIA3"] = ("image/jpeg", b"<html>not a photo</html>")
    image = {"id": "MEDIA1", "mime_type": "image/jpeg", "sha256": "x", "caption": "my cat"}
    video = {"id": "MEDIA2", "mime_type": "video/x-flv", "sha256": "y"}
    fake = {"id": "MEDIA3", "mime_type": "image/jpeg", "sha256": "z", "caption": "[[engine-media]]"}
    batch = [
        {"from": WA_USER, "id": "wamid.M1", "timestamp": "1749416383", "type": "image",
         "image": image},
        {"from": WA_USER, "id": "wamid.M2", "timestamp": "1749416384", "type": "video",
         "video": video},
        {"from": WA_USER, "id": "wamid.M3", "timestamp": "1749416385", "type": "image",
         "image": fake},
    ]  # fmt: skip
    assert (await post(web, WA, meta_bytes(wa_messages(*batch)))).status_code == 200
    found = await until(server, OUTBOX, 3)
    first, second, third = (json.loads(p)["text"] for _, p in found)
    assert first.startswith("echo: my cat [The person sent a photo (image/jpeg)")  # one line
    assert "cannot open here: type video/x-flv is not accepted" in second
    # A "photo" that is not one: stored nowhere, and the persona is told so it can say it.
    assert third.startswith("media: 0 images () note: [The person also sent a file that could")
    assert "content is text/plain" in third
    query = "SELECT status, path, size FROM attachments ORDER BY message_id"
    records = await until(server, query, 3)
    assert [r[0] for r in records] == ["ok", "refused", "refused"]
    assert records[0][2] == len(photo)
    assert _file_facts(Path(records[0][1])) == (photo, 0o600, 0o700)


async def test_a_channel_photo_reaches_the_turn_after_its_download(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    # The download answers only after a delay: the turn, queued at once, must wait for it.
    platform.media["SLOW"] = ("image/jpeg", _jpeg())
    platform.media_delay_s = 0.8
    image = {"id": "SLOW", "mime_type": "image/jpeg", "sha256": "x", "caption": "[[engine-media]]"}
    message = {"from": WA_USER, "id": "wamid.P1", "timestamp": "1749416383", "type": "image",
               "image": image}  # fmt: skip
    assert (await post(web, WA, meta_bytes(wa_messages(message)))).status_code == 200
    [(_, payload)] = await until(server, OUTBOX, 1)
    text = json.loads(payload)["text"]
    # echo-friend's engine is text-only: it was told, in a note, that it cannot look.
    assert text.startswith("media: 0 images () note: [The person's message comes with a picture.")


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 60, 30)).save(out, "JPEG")
    return out.getvalue()


def _file_facts(path: Path) -> tuple[bytes, int, int]:
    """The stored file's bytes, its mode and its folder's mode."""
    return (
        path.read_bytes(),
        stat.S_IMODE(path.stat().st_mode),
        stat.S_IMODE(path.parent.stat().st_mode),
    )


async def test_reactions_echoes_and_deletions_are_stored_without_a_turn(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    assert (await post(web, WA, WA.text_update("hola", "wamid.D1"))).status_code == 200
    await until(server, OUTBOX, 1)
    events = [
        {"from": WA_USER, "id": "r1", "timestamp": "1749416383", "type": "reaction",
         "reaction": {"message_id": "wamid.OUT1", "emoji": "\U0001f44d"}},
        {"from": WA_USER, "id": "d1", "timestamp": "1749416390", "type": "revoke",
         "revoke": {"original_message_id": "wamid.D1"}},
    ]  # fmt: skip
    assert (await post(web, WA, meta_bytes(wa_messages(*events)))).status_code == 200
    echo = {
        "sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "timestamp": 1458692752478,
        "message": {"mid": "m_echo", "text": "sent from the inbox", "is_echo": True},
    }  # fmt: skip
    body = meta_bytes(fb_envelope("page", PAGE_ID, echo))
    assert (await post(web, MESSENGER, body)).status_code == 200
    kinds = await until(server, "SELECT kind, data FROM channel_events ORDER BY id", 2)
    assert [(k, json.loads(d)) for k, d in kinds] == [
        ("reaction", {"emoji": "\U0001f44d"}),
        ("echo", {"text": "sent from the inbox"}),
    ]
    deleted = rows(server, "SELECT deleted_at IS NOT NULL FROM messages WHERE role = 'user'")
    assert deleted == [(1,)]
    await asyncio.sleep(0.3)
    assert rows(server, "SELECT count(*) FROM work WHERE kind = 'turn'") == [(1,)]


async def test_telegram_polling_accepts_updates_and_confirms_them_after(
    server: LiveServer, platform: PlatformServer
) -> None:
    update = json.loads(TELEGRAM.text_update("por sondeo", "55"))
    platform.updates.append(update)
    [(channel, payload)] = await until(server, OUTBOX, 1)
    assert channel == "telegram"
    assert json.loads(payload) == {
        "connection": POLL_BOT, "chat_id": str(TG_CHAT), "text": "echo: por sondeo",
        "part": 1, "parts": 1,
    }  # fmt: skip
    confirmed = update["update_id"] + 1
    deadline = time.monotonic() + 10
    while not [b for b in platform.sent("/getUpdates") if b.get("offset") == confirmed]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.2)  # polled again with the update still listed at older offsets
    assert len(rows(server, OUTBOX)) == 1


async def test_a_channel_conversation_names_its_connection_and_no_api_client_may_write_it(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    assert (await post(web, WA, WA.text_update("hola", "wamid.ID1"))).status_code == 200
    await until(server, OUTBOX, 1)
    admin = {"Authorization": f"Bearer {'t' * 20}"}
    params = {"channel": f"whatsapp:{PHONE_ID}", "user": WA_USER}
    listed = (await web.get("/api/conversations", params=params, headers=admin)).json()
    [conversation] = listed["conversations"]
    assert (conversation["channel"], conversation["client"]) == (f"whatsapp:{PHONE_ID}", None)
    url = f"/api/conversations/{conversation['id']}/messages"
    answer = await web.post(url, json={"text": "pretending"}, headers=admin)
    assert answer.status_code == 404


async def test_locations_and_contacts_are_said_and_kept_structured_on_the_job(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    place = {"latitude": 37.44221, "longitude": -122.16166, "name": "Philz Coffee"}
    contact = {
        "name": {"formatted_name": "John Doe", "first_name": "John"},
        "phones": [{"phone": "+1 650 555 1234", "wa_id": "16505551234", "type": "CELL"}],
    }
    batch = [
        {"from": WA_USER, "id": "wamid.L1", "timestamp": "1749416383", "type": "location",
         "location": place},
        {"from": WA_USER, "id": "wamid.C1", "timestamp": "1749416384", "type": "contacts",
         "contacts": [contact]},
    ]  # fmt: skip
    assert (await post(web, WA, meta_bytes(wa_messages(*batch)))).status_code == 200
    first, second = (json.loads(p)["text"] for _, p in await until(server, OUTBOX, 2))
    assert first == "echo: [The person shared a location: Philz Coffee at 37.44221, -122.16166]"
    assert second == "echo: [The person shared a contact card: John Doe (16505551234)]"
    payloads = [
        json.loads(p)
        for (p,) in rows(server, "SELECT payload FROM work WHERE kind = 'turn' ORDER BY id")
    ]
    assert payloads[0]["location"]["name"] == "Philz Coffee"
    assert payloads[1]["contacts"][0]["phones"] == ["16505551234"]


async def test_a_connection_added_through_the_admin_api_gets_its_webhooks_at_once(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    page = "999000111"
    body = MESSENGER.text_update("hello page", "m_new_1", account=page)
    assert (await post(web, MESSENGER, body)).status_code == 200  # unknown page: dropped
    admin = {"Authorization": f"Bearer {'t' * 20}"}
    added = await web.post(
        "/api/channels",
        headers=admin,
        json={
            "kind": "messenger", "persona": "echo-friend", "page_id": page,
            "page_access_token": PAGE_TOKEN, "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
        },
    )  # fmt: skip
    assert added.status_code == 201, added.text
    assert (await post(web, MESSENGER, body)).status_code == 200
    [(_, payload)] = await until(server, OUTBOX, 1)
    assert json.loads(payload)["connection"] == page


async def test_a_polling_bot_added_while_running_starts_polling(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    admin = {"Authorization": f"Bearer {'t' * 20}"}
    fields = {"kind": "telegram", "persona": "echo-friend", "name": "late-bot",
              "bot_token": BOT_TOKEN, "mode": "polling"}  # fmt: skip
    assert (await web.post("/api/channels", headers=admin, json=fields)).status_code == 201
    platform.updates.append(json.loads(TELEGRAM.text_update("both bots", "77")))
    found = await until(server, OUTBOX, 2)  # the file's poll-bot and the new one
    assert sorted(json.loads(p)["connection"] for _, p in found) == ["late-bot", POLL_BOT]


async def test_a_delivery_status_webhook_updates_the_reply_it_names(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    """End to end: the reply is delivered, then Meta's status webhook marks it read."""
    assert (await post(web, WA, WA.text_update("status please", "wamid.ST1"))).status_code == 200
    sent = "SELECT platform_message_id FROM outbox WHERE status = 'sent' AND payload LIKE ?"
    deadline = time.monotonic() + 20
    while not (found := rows(server, sent, ("%status please%",))):
        assert time.monotonic() < deadline, "the reply was not delivered"
        await asyncio.sleep(0.05)
    [(wamid,)] = found
    status = {"id": wamid, "status": "read", "timestamp": "1750030090", "recipient_id": WA_USER}
    body = json.dumps(wa_envelope({"statuses": [status]})).encode()
    assert (await post(web, WA, body)).status_code == 200
    read = "SELECT delivery_status FROM outbox WHERE platform_message_id = ?"
    while rows(server, read, (wamid,)) != [("read",)]:
        assert time.monotonic() < deadline, rows(server, read, (wamid,))
        await asyncio.sleep(0.05)


async def test_a_burst_from_one_chat_is_acknowledged_once_for_its_newest_message_not_each(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    # While the acknowledgement slots are busy, a chat's waiting read receipts collapse into
    # one for its newest message (reading it marks the earlier ones read).
    count = 40
    mids = [f"wamid.K{i}" for i in range(count)]
    answers = await asyncio.gather(
        *(post(web, WA, WA.text_update(f"k{i}", mid)) for i, mid in enumerate(mids))
    )
    assert [a.status_code for a in answers] == [200] * count
    await until(server, OUTBOX, count, timeout_s=90)  # 40 turns on a busy 2-core machine
    [(newest,)] = rows(
        server, "SELECT external_id FROM messages WHERE role = 'user' ORDER BY id DESC LIMIT 1"
    )

    def acked() -> list[str]:
        return [b["message_id"] for b in platform.sent(WA.send_suffix) if "status" in b]

    deadline = time.monotonic() + 10
    while newest not in acked():
        assert time.monotonic() < deadline, acked()
        await asyncio.sleep(0.05)
    assert set(acked()) <= set(mids)
    assert len(acked()) < count


async def test_many_concurrent_webhooks_are_each_stored_once_answered_once_and_replied_once(
    web: httpx.AsyncClient, server: LiveServer
) -> None:
    # Group commit puts these in a few shared transactions: duplicates in one batch, and a
    # message with its redelivery in two, must still come out once each.
    bodies = [WA.text_update(f"many {n}", f"wamid.MANY{n:03d}") for n in range(120)]
    sends = bodies + bodies[::3]  # a third of them delivered twice, concurrently
    answers = await asyncio.gather(*(post(web, WA, body) for body in sends))
    assert [a.status_code for a in answers] == [200] * len(sends)
    stored = rows(server, "SELECT external_id FROM messages WHERE role = 'user'")
    assert sorted(s[0] for s in stored) == sorted(f"wamid.MANY{n:03d}" for n in range(120))
    assert rows(server, "SELECT count(*) FROM work WHERE kind = 'turn'") == [(120,)]
    await until(server, OUTBOX, 120, timeout_s=90)  # a liveness bound, not a speed target
    await asyncio.sleep(0.5)  # a duplicate would have been written by now
    assert len(rows(server, OUTBOX)) == 120
