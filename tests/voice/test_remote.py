"""The OpenAI-compatible speech adapters against a real loopback server speaking OpenAI's audio
wire format: the multipart upload and JSON body it receives, the Bearer key, and failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from personae.errors import EngineError, EngineUnavailable, MediaError
from personae.settings import Settings
from personae.voice.adapters import speech_to_text, text_to_speech

from .conftest import SHORT, speech_clip
from .openai_audio import KEY, AudioServer


@pytest.fixture(scope="module")
def audio_server() -> Iterator[AudioServer]:
    served = AudioServer()
    server, thread = served.start()
    yield served
    server.should_exit = True
    thread.join(timeout=10)


def remote(home: Path, url: str, key: str | None = KEY) -> Settings:
    return Settings(
        home=home, stt_url=url, stt_api_key=key, stt_model="whisper-large-v3",
        tts_url=url, tts_api_key=key, tts_model="tts-1-hd",
    )  # fmt: skip


async def test_transcription_uploads_multipart_with_the_model(
    audio_server: AudioServer, tmp_path: Path
) -> None:
    audio_server.received.clear()
    stt = speech_to_text(remote(tmp_path, audio_server.url), "openai")
    heard = await stt.transcribe(speech_clip(SHORT), "audio/wav")
    assert heard.text == "heard 3.7 seconds" and heard.language == "english"
    assert heard.duration_s == pytest.approx(3.7, abs=0.05)
    [seen] = audio_server.received
    assert seen["model"] == "whisper-large-v3" and seen["response_format"] == "json"
    assert seen["filename"] == "speech.wav" and seen["content_type"] == "audio/wav"


async def test_speech_posts_openai_json_and_decodes_the_audio(
    audio_server: AudioServer, tmp_path: Path
) -> None:
    audio_server.received.clear()
    tts = text_to_speech(remote(tmp_path, audio_server.url), "openai")
    speech = await tts.synthesize("one two three four", voice="nova", speed=1.25)
    assert speech.sample_rate == 24000 and speech.duration_s == pytest.approx(1.0, abs=0.01)
    assert audio_server.received == [
        {"model": "tts-1-hd", "input": "one two three four", "voice": "nova", "speed": 1.25,
         "response_format": "wav"}
    ]  # fmt: skip


async def test_a_wrong_key_names_the_setting(audio_server: AudioServer, tmp_path: Path) -> None:
    stt = speech_to_text(remote(tmp_path, audio_server.url, key="wrong"), "openai")
    with pytest.raises(EngineError, match=r"401.*PERSONAE_STT_API_KEY"):
        await stt.transcribe(speech_clip(SHORT), "audio/wav")


async def test_an_overloaded_server_is_transient(audio_server: AudioServer, tmp_path: Path) -> None:
    audio_server.fail_next = 503
    stt = speech_to_text(remote(tmp_path, audio_server.url), "openai")
    with pytest.raises(EngineUnavailable, match="503"):
        await stt.transcribe(speech_clip(SHORT), "audio/wav")


async def test_a_server_that_is_down_is_transient(tmp_path: Path) -> None:
    tts = text_to_speech(remote(tmp_path, "http://127.0.0.1:9/v1"), "openai")
    with pytest.raises(EngineUnavailable, match="unreachable"):
        await tts.synthesize("hello")


async def test_corrupt_audio_never_leaves_the_host(
    audio_server: AudioServer, tmp_path: Path
) -> None:
    audio_server.received.clear()
    stt = speech_to_text(remote(tmp_path, audio_server.url), "openai")
    with pytest.raises(MediaError):
        await stt.transcribe(b"RIFF\x00\x00garbage" * 10, "audio/wav")
    assert audio_server.received == []
