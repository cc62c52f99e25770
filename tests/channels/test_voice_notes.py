"""Voice notes end to end on one real server: a signed webhook with a voice note, the audio
fetched from the loopback platform, heard by the offline Whisper, the transcript answered as the
person's message (the turn waits for the hearing: its job is released after it), and the reply
spoken and sent back through each platform's own audio send, checked by its exact wire body.
Audio that cannot be heard still gets an answer saying why."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from personae.settings import Settings
from personae.voice import codec
from server.live import LiveServer, start_server, write_personas

from .harness import PSID, TG_CHAT, WA_USER, fb_envelope, meta_bytes, wa_messages
from .platform import GRAPH_VERSION, PAGE_ID, PlatformServer
from .test_webhook_server import MESSENGER, TELEGRAM, WA, _channels_file, post, rows, until

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech"
CLIP = (
    SPEECH / "audio" / "ccby_librispeech_251-118436-0001.wav"
)  # "i tell you it is not poison she cried"


@pytest.fixture(scope="module")
async def vplatform() -> AsyncIterator[PlatformServer]:
    state = PlatformServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state


@pytest.fixture(scope="module")
async def vserver(
    vplatform: PlatformServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    home = tmp_path_factory.mktemp("voice-notes")
    settings = Settings(
        home=home, engine="scripted", load_samples=False, admin_token="t" * 20,
        personas_dir=write_personas(home / "personas"), channels=_channels_file(home),
        graph_api_base=vplatform.url, graph_api_version=GRAPH_VERSION,
        telegram_api_base=vplatform.url, rate_person_per_min=0, tts_engine="espeak",
    )  # fmt: skip
    live = await asyncio.to_thread(start_server, settings)
    yield live
    await asyncio.to_thread(live.stop)


@pytest.fixture(scope="module")
async def vweb(vserver: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=vserver.url, timeout=30) as client:
        yield client


def voice_note() -> bytes:
    if not CLIP.is_file():
        pytest.skip(f"the speech set is not at {SPEECH}")
    return codec.encode(codec.decode(CLIP.read_bytes(), max_seconds=30), "opus")


def wa_voice(media_id: str, mid: str) -> bytes:
    audio = {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": media_id, "voice": True}
    item = {"from": WA_USER, "id": mid, "timestamp": "1749416383", "type": "audio", "audio": audio}
    return meta_bytes(wa_messages(item))


def tg_voice(file_id: str, size: int) -> bytes:
    sender = {"id": TG_CHAT, "is_bot": False, "first_name": "Ana"}
    voice = {"duration": 4, "mime_type": "audio/ogg", "file_id": file_id,
             "file_unique_id": "AgADcBEAApf2gVM", "file_size": size}  # fmt: skip
    message = {"message_id": 52, "from": sender, "date": 1701813530, "voice": voice,
               "chat": {"id": TG_CHAT, "first_name": "Ana", "type": "private"}}  # fmt: skip
    return json.dumps({"update_id": 147759374, "message": message}).encode()


def fb_voice(url: str, mid: str) -> bytes:
    attachment = {"type": "audio", "payload": {"url": url}}
    item = {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1458692752478,
            "message": {"mid": mid, "attachments": [attachment]}}  # fmt: skip
    return meta_bytes(fb_envelope("page", PAGE_ID, item))


async def replied(server: LiveServer, channel: str) -> dict[str, Any]:
    """The channel's one outbox row, once it is sent."""
    sql = f"SELECT payload FROM outbox WHERE channel = '{channel}' AND status = 'sent'"
    [(payload,)] = await until(server, sql, 1, timeout_s=120)
    return json.loads(payload)


def assert_voice_note(audio: bytes) -> float:
    assert audio[:4] == b"OggS" and b"OpusHead" in audio[:200]
    seconds = codec.decode(audio, max_seconds=120).duration_s
    assert seconds > 1.5
    return seconds


async def test_whatsapp_voice_note_heard_and_answered_with_a_voice_note(
    vweb: httpx.AsyncClient, vserver: LiveServer, vplatform: PlatformServer
) -> None:
    note = voice_note()
    vplatform.media["VOICE1"] = ("audio/ogg", note)
    assert (await post(vweb, WA, wa_voice("VOICE1", "wamid.V1"))).status_code == 200
    planned = await replied(vserver, "whatsapp")
    # The words, not Whisper's punctuation (it adds commas on some CPUs and not on others).
    words = re.sub(r"[^\w\s]", "", planned["text"].lower()).split()
    assert words[:7] == ["echo", "i", "tell", "you", "it", "is", "not"], planned
    assert planned["speak"] == {"engine": None, "voice": None, "speed": 1.0}  # mirror by default
    sql = (
        "SELECT a.kind, a.status, a.sha256, a.transcript, m.content "
        "FROM attachments a JOIN messages m ON m.id = a.message_id"
    )
    [(kind, status, digest, transcript, content)] = rows(vserver, sql)
    assert (kind, status, digest) == ("audio", "ok", hashlib.sha256(note).hexdigest())
    assert (
        "not poison" in transcript.lower() and content == transcript
    )  # the message is what was said
    [upload] = [r for r in vplatform.seen if r.path.endswith("/media")]
    assert upload.body["fields"] == {
        "messaging_product": "whatsapp",
        "type": "audio/ogg; codecs=opus",
    }
    filename, _, audio = upload.body["files"]["file"]
    assert filename == "reply.ogg"
    assert_voice_note(audio)
    [send] = [
        r for r in vplatform.seen if r.path.endswith("/messages") and r.body.get("type") == "audio"
    ]
    media_id = next(k for k, (_, data) in vplatform.media.items() if data == audio)
    assert send.body == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_USER,
        "type": "audio", "audio": {"id": media_id, "voice": True},
        "biz_opaque_callback_data": send.body["biz_opaque_callback_data"],
    }  # fmt: skip


async def test_telegram_voice_note_answered_with_send_voice(
    vweb: httpx.AsyncClient, vserver: LiveServer, vplatform: PlatformServer
) -> None:
    note = voice_note()
    vplatform.media["AwACAgQAAxkBAAMyZW"] = ("audio/ogg", note)
    answer = await post(vweb, TELEGRAM, tg_voice("AwACAgQAAxkBAAMyZW", len(note)))
    assert answer.status_code == 200
    assert "not poison" in (await replied(vserver, "telegram"))["text"].lower()
    [sent] = [r for r in vplatform.seen if r.path.endswith("/sendVoice")]
    filename, mime, audio = sent.body["files"]["voice"]
    assert (filename, mime) == ("reply.ogg", "audio/ogg")
    seconds = assert_voice_note(audio)
    assert sent.body["fields"] == {"chat_id": str(TG_CHAT), "duration": str(max(1, round(seconds)))}
    assert not [r for r in vplatform.seen if r.path.endswith("/sendMessage")]  # voice, not text


async def test_messenger_voice_answered_with_an_aac_audio_attachment(
    vweb: httpx.AsyncClient, vserver: LiveServer, vplatform: PlatformServer
) -> None:
    vplatform.media["fbvoice"] = (
        "audio/mp4",
        codec.encode(codec.decode(voice_note(), max_seconds=30), "m4a"),
    )
    answer = await post(vweb, MESSENGER, fb_voice(f"{vplatform.url}/cdn/fbvoice", "m.V1"))
    assert answer.status_code == 200
    assert "not poison" in (await replied(vserver, "messenger"))["text"].lower()
    [sent] = [
        r
        for r in vplatform.seen
        if r.path == f"/{GRAPH_VERSION}/{PAGE_ID}/messages" and "files" in r.body
    ]
    fields = sent.body["fields"]
    assert (
        json.loads(fields["recipient"]) == {"id": PSID} and fields["messaging_type"] == "RESPONSE"
    )
    message = json.loads(fields["message"])
    assert message["attachment"] == {"type": "audio", "payload": {"is_reusable": False}}
    filename, mime, audio = sent.body["files"]["filedata"]
    assert (filename, mime) == ("reply.m4a", "audio/mp4") and audio[4:8] == b"ftyp"
    assert codec.decode(audio, max_seconds=120).duration_s > 1.5


async def test_a_picture_posing_as_a_voice_note_is_answered_in_text_with_why(
    vweb: httpx.AsyncClient, vserver: LiveServer, vplatform: PlatformServer
) -> None:
    vplatform.media["FAKE1"] = ("audio/ogg", b"\x89PNG\r\n\x1a\n" + bytes(4000))
    before = len(rows(vserver, "SELECT id FROM outbox WHERE channel = 'whatsapp'"))
    assert (await post(vweb, WA, wa_voice("FAKE1", "wamid.V2"))).status_code == 200
    sql = "SELECT payload FROM outbox WHERE channel = 'whatsapp' ORDER BY id"
    found = await until(vserver, sql, before + 1, timeout_s=60)
    reply = json.loads(found[-1][0])["text"]
    # The media store sniffs the bytes: a PNG is no audio, whatever the platform declared.
    assert "could not hear" in reply and "image" in reply, reply
