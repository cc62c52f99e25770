"""The built-in speech adapters, registered through the same hooks a third-party plugin uses.
Factories only build the adapter; each loads its model on first use."""

from __future__ import annotations

from personae.plugins import RegisterSpeechToText, RegisterTextToSpeech, hookimpl
from personae.voice.espeak import EspeakTextToSpeech
from personae.voice.piper import PiperTextToSpeech
from personae.voice.remote import OpenAISpeechToText, OpenAITextToSpeech
from personae.voice.sphinx import SphinxSpeechToText
from personae.voice.whisper import WhisperSpeechToText


@hookimpl
def register_speech_to_text(register: RegisterSpeechToText) -> None:
    register("whisper", WhisperSpeechToText)
    register("pocketsphinx", SphinxSpeechToText)
    register("openai", OpenAISpeechToText)


@hookimpl
def register_text_to_speech(register: RegisterTextToSpeech) -> None:
    register("espeak", EspeakTextToSpeech)
    register("piper", PiperTextToSpeech)
    register("openai", OpenAITextToSpeech)
