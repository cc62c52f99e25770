"""Video replies end to end on one real server: a persona with ``video_replies: on_request``
is asked for a video on each channel; the reply is spoken (espeak), rendered with its avatar
and sent through each platform's own video send, checked by its exact wire body and by
decoding the MP4 that arrived. A message that asks for nothing gets text; a video that cannot
be rendered (a broken avatar file) still gets the words through, as text."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from personae.settings import Settings
from server.live import LiveServer, start_server, write_personas

from .harness import IGSID, PSID, TG_CHAT, WA_USER, Harness
from .platform import GRAPH_VERSION, IG_ID, PAGE_ID, PHONE_ID, PlatformServer, telegram_error
from .test_webhook_server import (
    INSTAGRAM,
    MESSENGER,
    TELEGRAM,
    WA,
    _channels_file,
    post,
    rows,
    until,
)

ASK = "Could you send me a video of you saying hello?"


@pytest.fixture(scope="module")
async def fplatform() -> AsyncIterator[PlatformServer]:
    state = PlatformServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state


def avatar(path: Path) -> Path:
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (320, 240, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
async def fserver(
    fplatform: PlatformServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    home = tmp_path_factory.mktemp("video-replies")
    personas = write_personas(home / "personas")
    avatar(personas / "ekko.png")
    echo = personas / "echo-friend.yaml"
    echo.write_text(echo.read_text() + "video_replies: on_request\navatar: ekko.png\n")
    settings = Settings(
        home=home, engine="scripted", load_samples=False, admin_token="t" * 20,
        personas_dir=personas, channels=_channels_file(home),
        graph_api_base=fplatform.url, graph_api_version=GRAPH_VERSION,
        telegram_api_base=fplatform.url, rate_person_per_min=0, tts_engine="espeak",
        delivery_backoff_s=0.2,
    )  # fmt: skip
    live = await asyncio.to_thread(start_server, settings)
    yield live
    await asyncio.to_thread(live.stop)


@pytest.fixture(scope="module")
async def fweb(fserver: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fserver.url, timeout=30) as client:
        yield client


async def sent_rows(server: LiveServer, channel: str, count: int) -> list[dict[str, Any]]:
    sql = f"SELECT payload FROM outbox WHERE channel = '{channel}' AND status = 'sent' ORDER BY id"
    found = await until(server, sql, count, timeout_s=120)
    return [json.loads(p) for (p,) in found]


def assert_video(data: bytes, side: int) -> None:
    container = av.open(io.BytesIO(data))
    video, audio = container.streams.video[0], container.streams.audio[0]
    assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
    assert video.width == video.height == side
    assert container.duration is not None and container.duration / 1e6 > 1.0


async def ask(web: httpx.AsyncClient, h: Harness, mid: str, text: str = ASK) -> None:
    answer = await post(web, h, h.text_update(text, mid))
    assert answer.status_code == 200, answer.text


async def test_whatsapp_video_uploaded_to_media_then_sent_as_type_video(
    fweb: httpx.AsyncClient, fserver: LiveServer, fplatform: PlatformServer
) -> None:
    await ask(fweb, WA, "wamid.F1")
    [planned] = await sent_rows(fserver, "whatsapp", 1)
    assert planned["video"]["name"] == "Ekko" and planned["text"] == f"echo: {ASK}"
    [upload] = [r for r in fplatform.seen if r.path == f"/{GRAPH_VERSION}/{PHONE_ID}/media"]
    assert upload.body["fields"] == {"messaging_product": "whatsapp", "type": "video/mp4"}
    filename, mime, data = upload.body["files"]["file"]
    assert (filename, mime) == ("reply.mp4", "video/mp4") and len(data) < 16 * 1024 * 1024
    assert_video(data, 480)
    media_id = next(k for k, (_, d) in fplatform.media.items() if d == data)
    [send] = [r for r in fplatform.seen if r.body.get("type") == "video"]
    assert send.body == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_USER,
        "type": "video", "video": {"id": media_id},
        "biz_opaque_callback_data": send.body["biz_opaque_callback_data"],
    }  # fmt: skip


async def test_telegram_video_sent_as_a_round_video_note(
    fweb: httpx.AsyncClient, fserver: LiveServer, fplatform: PlatformServer
) -> None:
    await ask(fweb, TELEGRAM, "2001", "can you record a video for me")
    await sent_rows(fserver, "telegram", 1)
    [sent] = [r for r in fplatform.seen if r.path.endswith("/sendVideoNote")]
    filename, mime, data = sent.body["files"]["video_note"]
    assert (filename, mime) == ("reply.mp4", "video/mp4")
    assert_video(data, 384)
    seconds = av.open(io.BytesIO(data)).duration / 1e6  # type: ignore[operator]
    fields = sent.body["fields"]
    assert fields == {"chat_id": str(TG_CHAT), "duration": fields["duration"], "length": "384"}
    assert abs(int(fields["duration"]) - seconds) <= 0.6  # whole seconds of the speech
    assert not [r for r in fplatform.seen if r.path.endswith("/sendMessage")]


async def renders(web: httpx.AsyncClient, fmt: str) -> dict[str, float]:
    """personae_video_renders_total for ``fmt`` from /metrics, by outcome."""
    text = (await web.get("/metrics", headers={"Authorization": f"Bearer {'t' * 20}"})).text
    line = rf'personae_video_renders_total{{format="{fmt}",outcome="(\w+)"}} (\S+)'
    found = re.findall(line, text)
    return {outcome: float(value) for outcome, value in found}


async def test_a_retried_video_send_reuses_the_kept_render(
    fweb: httpx.AsyncClient, fserver: LiveServer, fplatform: PlatformServer
) -> None:
    before = await renders(fweb, "telegram")
    seen = len(fplatform.seen)
    fplatform.fail_only = "/sendVideoNote"  # the first send fails; delivery retries it
    fplatform.fail_next.append(telegram_error(502, "Bad Gateway"))
    try:
        await ask(fweb, TELEGRAM, "2002", "send me a video message please")
        await sent_rows(fserver, "telegram", 2)
    finally:
        fplatform.fail_only = ""
    notes = [r for r in fplatform.seen[seen:] if r.path.endswith("/sendVideoNote")]
    assert len(notes) == 2  # the failed send and its retry
    first, second = (r.body["files"]["video_note"][2] for r in notes)
    assert first == second
    after = await renders(fweb, "telegram")
    assert after.get("rendered", 0) - before.get("rendered", 0) == 1  # rendered once
    assert after.get("reused", 0) - before.get("reused", 0) == 1  # the retry reused it
    kept = rows(fserver, "SELECT original_ref, kind FROM attachments WHERE kind = 'video'")
    assert [k for k in kept if k[0].startswith("rendered:")], kept


@pytest.mark.parametrize(
    ("h", "account", "user"), [(MESSENGER, PAGE_ID, PSID), (INSTAGRAM, IG_ID, IGSID)]
)
async def test_messenger_and_instagram_video_attachment_uploaded_with_the_send(
    h: Harness, account: str, user: str,
    fweb: httpx.AsyncClient, fserver: LiveServer, fplatform: PlatformServer,
) -> None:  # fmt: skip
    await ask(fweb, h, f"m.F.{h.name}", "send a video please")
    await sent_rows(fserver, h.name, 1)
    [sent] = [
        r for r in fplatform.seen
        if r.path == f"/{GRAPH_VERSION}/{account}/messages" and "files" in r.body
    ]  # fmt: skip
    fields = sent.body["fields"]
    assert json.loads(fields["recipient"]) == {"id": user}
    assert fields["messaging_type"] == "RESPONSE"
    message = json.loads(fields["message"])
    assert message["attachment"] == {"type": "video", "payload": {"is_reusable": False}}
    filename, mime, data = sent.body["files"]["filedata"]
    assert (filename, mime) == ("reply.mp4", "video/mp4") and len(data) < 25 * 1024 * 1024
    assert_video(data, 480)


async def test_a_message_that_asks_for_no_video_is_answered_in_text(
    fweb: httpx.AsyncClient, fserver: LiveServer, fplatform: PlatformServer
) -> None:
    await ask(fweb, WA, "wamid.F2", "how was your day")
    planned = await sent_rows(fserver, "whatsapp", 2)
    assert "video" not in planned[-1] and planned[-1]["text"] == "echo: how was your day"
    assert len([r for r in fplatform.seen if r.body.get("type") == "video"]) == 1


async def test_a_video_that_cannot_be_rendered_still_sends_the_words(
    fweb: httpx.AsyncClient, fserver: LiveServer, fplatform: PlatformServer
) -> None:
    assert fserver.settings.personas_dir is not None
    (fserver.settings.personas_dir / "ekko.png").write_bytes(b"\x89PNG broken")
    await ask(fweb, WA, "wamid.F3", "record a video for me")
    planned = await sent_rows(fserver, "whatsapp", 3)
    assert "video" in planned[-1]
    texts = [r.body["text"]["body"] for r in fplatform.seen if r.body.get("type") == "text"]
    assert texts == ["echo: how was your day", "echo: record a video for me"]
    assert len([r for r in fplatform.seen if r.body.get("type") == "video"]) == 1
    assert rows(fserver, "SELECT count(*) FROM outbox WHERE status = 'failed'") == [(0,)]
