"""Voice notes end to end: a signed webhook with a voice note, the audio fetched from the
loopback platform, heard by the offline Whisper, and the transcript answered as the person's
message. The turn waits for the hearing (its job is released after it), so the reply never
answers the placeholder; audio that cannot be heard still gets an answer saying why."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from personae.voice import codec
from server.live import LiveServer

from .harness import TG_CHAT, WA_USER, meta_bytes, wa_messages
from .platform import PlatformServer
from .test_webhook_server import OUTBOX, TELEGRAM, WA, platform, post, server, until, web

__all__ = ["platform", "server", "web"]  # fixtures, used by name
SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech"
CLIP = (
    SPEECH / "audio" / "ccby_librispeech_251-118436-0001.wav"
)  # "i tell you it is not poison she cried"
HEARD = "SELECT kind, status, sha256, transcript FROM attachments ORDER BY message_id"


def voice_note() -> bytes:
    if not CLIP.is_file():
        pytest.skip(f"the speech set is not at {SPEECH}")
    return codec.encode(codec.decode(CLIP.read_bytes(), max_seconds=30), "opus")


def wa_voice(media_id: str, mid: str) -> bytes:
    audio = {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": media_id, "voice": True}
    item = {"from": WA_USER, "id": mid, "timestamp": "1749416383", "type": "audio", "audio": audio}
    return meta_bytes(wa_messages(item))


async def test_a_whatsapp_voice_note_is_heard_and_the_transcript_answered(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    note = voice_note()
    platform.media["VOICE1"] = ("audio/ogg", note)
    assert (await post(web, WA, wa_voice("VOICE1", "wamid.V1"))).status_code == 200
    [(_, payload)] = await until(server, OUTBOX, 1, timeout_s=120)
    reply = json.loads(payload)["text"].lower()
    assert reply.startswith("echo: i tell you it is not poison"), reply
    assert "voice message" not in reply  # the placeholder never reached the model
    [(kind, status, digest, transcript)] = await until(server, HEARD, 1)
    assert (kind, status) == ("audio", "ok")
    assert digest == hashlib.sha256(note).hexdigest()
    assert "not poison" in transcript.lower()


async def test_a_picture_posing_as_a_voice_note_is_answered_with_why(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    platform.media["FAKE1"] = ("audio/ogg", b"\x89PNG\r\n\x1a\n" + bytes(4000))
    assert (await post(web, WA, wa_voice("FAKE1", "wamid.V2"))).status_code == 200
    [(_, payload)] = await until(server, OUTBOX, 1, timeout_s=60)
    reply = json.loads(payload)["text"]
    assert "could not hear" in reply and "no audio stream" in reply, reply
    [(_, status, _, transcript)] = await until(server, HEARD, 1)
    assert status == "ok" and transcript is None


def tg_voice(file_id: str, size: int) -> bytes:
    sender = {"id": TG_CHAT, "is_bot": False, "first_name": "Ana"}
    voice = {"duration": 4, "mime_type": "audio/ogg", "file_id": file_id,
             "file_unique_id": "AgADcBEAApf2gVM", "file_size": size}  # fmt: skip
    message = {"message_id": 52, "from": sender, "date": 1701813530, "voice": voice,
               "chat": {"id": TG_CHAT, "first_name": "Ana", "type": "private"}}  # fmt: skip
    return json.dumps({"update_id": 147759374, "message": message}).encode()


async def test_a_telegram_voice_note_is_answered_with_a_voice_note(
    web: httpx.AsyncClient, server: LiveServer, platform: PlatformServer
) -> None:
    note = voice_note()
    platform.media["AwACAgQAAxkBAAMyZW"] = ("audio/ogg", note)
    answer = await post(web, TELEGRAM, tg_voice("AwACAgQAAxkBAAMyZW", len(note)))
    assert answer.status_code == 200
    [(_, payload)] = await until(server, OUTBOX, 1, timeout_s=120)
    planned = json.loads(payload)
    assert "not poison" in planned["text"].lower()
    assert planned["speak"] == {"engine": None, "voice": None, "speed": 1.0}  # echo-friend: mirror
    await until(server, "SELECT id FROM outbox WHERE status = 'sent'", 1, timeout_s=60)
    [sent] = [r for r in platform.seen if r.path.endswith("/sendVoice")]
    assert sent.body["fields"]["chat_id"] == str(TG_CHAT)
    filename, mime, audio = sent.body["files"]["voice"]
    assert (filename, mime) == ("reply.ogg", "audio/ogg")
    assert audio[:4] == b"OggS" and b"OpusHead" in audio[:200]
    spoken = codec.decode(audio, max_seconds=120).duration_s
    assert spoken > 1.5 and int(sent.body["fields"]["duration"]) == max(1, round(spoken))
    assert not [r for r in platform.seen if r.path.endswith("/sendMessage")]  # voice, not text
