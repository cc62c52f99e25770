"""Speech adapters by name, from the plugin hooks; an unknown name is a ConfigError that lists
the ones there are."""

from __future__ import annotations

from personae.contracts import SpeechToText, TextToSpeech
from personae.errors import ConfigError
from personae.plugins import speech_to_text_factories, text_to_speech_factories
from personae.settings import Settings


def speech_to_text(settings: Settings, name: str | None = None) -> SpeechToText:
    chosen = name or settings.stt_engine
    factories = speech_to_text_factories()
    if chosen not in factories:
        raise ConfigError(
            f"speech-to-text {chosen!r} is not registered; set PERSONAE_STT_ENGINE to one of "
            f"{', '.join(sorted(factories))}"
        )
    return factories[chosen](settings)


def text_to_speech(settings: Settings, name: str | None = None) -> TextToSpeech:
    chosen = name or settings.tts_engine
    factories = text_to_speech_factories()
    if chosen not in factories:
        raise ConfigError(
            f"text-to-speech {chosen!r} is not registered; set PERSONAE_TTS_ENGINE or the "
            f"persona's voice.engine to one of {', '.join(sorted(factories))}"
        )
    return factories[chosen](settings)
