"""Pictures a persona sends: the model asks with [[picture: ...]], the configured image
generator draws it (the persona's look and seed on the wire), and the delivery worker sends it
as a real image message through the outbox: WhatsApp media upload then an image message by id,
Telegram sendPhoto as a multipart upload. Exact wire bodies on the loopback platform."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from personae.settings import Settings
from server.live import LiveServer, start_server, write_personas

from .harness import HARNESSES, IGSID, PSID, TG_CHAT, WA_USER, Harness
from .platform import (
    BOT_TOKEN,
    GRAPH_VERSION,
    IG_ID,
    PAGE_ID,
    PHONE_ID,
    WA_TOKEN,
    PlatformServer,
)
from .test_webhook_server import OUTBOX, _channels_file, post, until

WA, MESSENGER, INSTAGRAM, TELEGRAM = HARNESSES
LOOK = "A friendly robot with round blue eyes"


def picture(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (seed % 256, 10, 200)).save(out, "PNG")
    return out.getvalue()


class Painter:
    """A loopback /v1/images/generations server that keeps what it was asked."""

    def __init__(self) -> None:
        self.url = ""
        self.asked: list[dict[str, Any]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        size = next(int(h.split(":")[1]) for h in head if h.lower().startswith("content-length"))
        body = json.loads(await reader.readexactly(size))
        self.asked.append(body)
        image = base64.b64encode(picture(body["seed"])).decode()
        data = json.dumps({"created": 1, "data": [{"b64_json": image}]}).encode()
        head_out = f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\nConnection: close\r\n"
        writer.write((head_out + "Content-Type: application/json\r\n\r\n").encode() + data)
        await writer.drain()
        writer.close()


@pytest.fixture
async def painter() -> AsyncIterator[Painter]:
    state = Painter()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    async with server:
        yield state


@pytest.fixture
async def platform() -> AsyncIterator[PlatformServer]:
    state = PlatformServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state


@pytest.fixture
async def server(
    platform: PlatformServer, painter: Painter, tmp_path: Path
) -> AsyncIterator[LiveServer]:
    personas = write_personas(tmp_path / "personas")
    echo = (personas / "echo-friend.yaml").read_text()
    (personas / "echo-friend.yaml").write_text(
        echo + f"appearance: {LOOK}\nimage_seed: 77\n", encoding="utf-8"
    )
    settings = Settings(
        home=tmp_path, engine="scripted", load_samples=False, admin_token="t" * 20,
        personas_dir=personas, channels=_channels_file(tmp_path),
        graph_api_base=platform.url, graph_api_version=GRAPH_VERSION,
        telegram_api_base=platform.url, rate_person_per_min=0, memory=False,
        image_generator="openai", image_base_url=painter.url, image_size="64x48",
    )  # fmt: skip
    live = await asyncio.to_thread(start_server, settings)
    yield live
    await asyncio.to_thread(live.stop)


@pytest.fixture
async def web(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def sent(platform: PlatformServer, suffix: str, count: int) -> list[Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = platform.sent(suffix)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{suffix}: {platform.sent(suffix)}")


async def test_whatsapp_picture_is_uploaded_then_sent_by_id(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer, painter: Painter
) -> None:
    ask = WA.text_update("here you go [[picture: me waving hello]]", "wamid.PIC1")
    assert (await post(web, WA, ask)).status_code == 200
    rows = await until(server, OUTBOX, 2)
    texts = [json.loads(p) for _, p in rows]
    assert texts[0]["text"] == "echo: here you go"  # the marker is not said out loud
    assert texts[1]["image"]["mime_type"] == "image/png" and texts[1]["text"] == ""
    assert painter.asked == [{
        "model": "default", "prompt": f"{LOOK}\n\nme waving hello", "n": 1, "size": "64x48",
        "response_format": "b64_json", "seed": 77,
    }]  # fmt: skip
    [upload] = await sent(platform, f"/{PHONE_ID}/media", 1)
    assert upload["messaging_product"] == "whatsapp" and upload["type"] == "image/png"
    assert upload["file"] == ("picture.png", "image/png", picture(77))
    messages = await sent(platform, f"/{PHONE_ID}/messages", 3)  # read receipt, text, image
    image = next(m for m in messages if m.get("type") == "image")
    assert image == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_USER,
        "type": "image", "image": {"id": "UPLOADED" + image["image"]["id"][8:]},
        "biz_opaque_callback_data": image["biz_opaque_callback_data"],
    }  # fmt: skip
    media_auth = next(r for r in platform.seen if r.path.endswith("/media")).headers
    assert media_auth["authorization"] == f"Bearer {WA_TOKEN}"


async def test_telegram_picture_is_a_sendphoto_upload(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    update = TELEGRAM.text_update("[[picture: a sunny beach]]", "4242")
    assert (await post(web, TELEGRAM, update)).status_code == 200
    [photo] = await sent(platform, f"/bot{BOT_TOKEN}/sendPhoto", 1)
    assert photo["fields"] == {"chat_id": str(TG_CHAT)}
    assert photo["files"] == {"photo": ("picture.png", "image/png", picture(77))}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses = [r[0] for r in await until(server, "SELECT status FROM outbox ORDER BY id", 2)]
        if statuses == ["sent", "sent"]:
            break
        await asyncio.sleep(0.05)
    assert statuses == ["sent", "sent"]


@pytest.mark.parametrize(
    ("h", "account", "person"),
    [(MESSENGER, PAGE_ID, PSID), (INSTAGRAM, IG_ID, IGSID)],
    ids=["messenger", "instagram"],
)
async def test_messenger_and_instagram_pictures_are_attachment_uploads(
    web: httpx.AsyncClient, platform: PlatformServer, h: Harness, account: str, person: str
) -> None:
    update = h.text_update("[[picture: my garden]]", f"mid.{h.name}.pic")
    assert (await post(web, h, update)).status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        uploads = [b for b in platform.sent(f"/{account}/messages") if "filedata" in b]
        if uploads:
            break
        await asyncio.sleep(0.05)
    [upload] = uploads
    assert json.loads(upload["recipient"]) == {"id": person}
    assert upload["messaging_type"] == "RESPONSE"
    message = json.loads(upload["message"])
    assert message["attachment"] == {"type": "image", "payload": {"is_reusable": False}}
    assert upload["filedata"] == ("picture.png", "image/png", picture(77))
