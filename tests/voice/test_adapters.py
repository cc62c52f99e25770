"""The speech adapters register through the plugin hooks and really hear and speak: Whisper
transcribes a real recording, Piper and espeak-ng speak text that Whisper then hears back."""

from __future__ import annotations

import pytest

from personae.contracts import SpeechToText, TextToSpeech
from personae.errors import ConfigError
from personae.plugins import speech_to_text_factories, text_to_speech_factories
from personae.settings import Settings
from personae.voice import codec
from personae.voice.adapters import speech_to_text, text_to_speech

from .conftest import SHORT, speech_clip


def test_builtin_adapters_register_through_the_hooks() -> None:
    assert {"whisper", "pocketsphinx", "openai"} <= set(speech_to_text_factories())
    assert {"espeak", "piper", "openai"} <= set(text_to_speech_factories())


def test_an_unknown_adapter_names_the_setting_and_the_choices(voice_settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"PERSONAE_STT_ENGINE.*pocketsphinx"):
        speech_to_text(voice_settings, "nope")
    with pytest.raises(ConfigError, match=r"voice\.engine.*espeak"):
        text_to_speech(voice_settings, "nope")


def test_building_an_adapter_loads_no_model(voice_settings: Settings) -> None:
    stt = speech_to_text(voice_settings, "whisper")
    assert isinstance(stt, SpeechToText) and stt._model is None  # type: ignore[attr-defined]
    assert isinstance(text_to_speech(voice_settings, "piper"), TextToSpeech)


@pytest.fixture(scope="module")
def whisper(voice_settings: Settings) -> SpeechToText:
    return speech_to_text(voice_settings, "whisper")


async def test_whisper_hears_a_real_voice_note_as_a_channel_sends_it(whisper: SpeechToText) -> None:
    note = codec.encode(codec.decode(speech_clip(SHORT), max_seconds=30), "opus")
    heard = await whisper.transcribe(note, "audio/ogg; codecs=opus")
    assert "it is not poison" in heard.text.lower()
    assert heard.language == "en" and heard.duration_s == pytest.approx(3.7, abs=0.1)


async def test_piper_speaks_text_that_whisper_hears_back(
    voice_settings: Settings, whisper: SpeechToText
) -> None:
    speech = await text_to_speech(voice_settings, "piper").synthesize(
        "Good morning, lovely weather."
    )
    assert 1.0 < speech.duration_s < 6.0
    heard = await whisper.transcribe(codec.encode(speech, "wav"), "audio/wav")
    assert "morning" in heard.text.lower() and "weather" in heard.text.lower()


async def test_espeak_speaks_with_the_persona_voice_and_speed(voice_settings: Settings) -> None:
    tts = text_to_speech(voice_settings, "espeak")
    normal = await tts.synthesize("One two three four five six seven.", voice="en-gb")
    fast = await tts.synthesize("One two three four five six seven.", voice="en-gb", speed=2.0)
    assert normal.sample_rate == 22050 and 1.0 < normal.duration_s < 6.0
    assert fast.duration_s < normal.duration_s * 0.75


async def test_speed_changes_the_length(voice_settings: Settings) -> None:
    tts = text_to_speech(voice_settings, "piper")
    normal = await tts.synthesize("One two three four five six seven.")
    fast = await tts.synthesize("One two three four five six seven.", speed=2.0)
    assert fast.duration_s < normal.duration_s * 0.75


async def test_an_unknown_piper_voice_is_a_config_error(voice_settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"\.onnx"):
        await text_to_speech(voice_settings, "piper").synthesize("hi", voice="/etc/passwd")
