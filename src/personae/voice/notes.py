"""The voice path of a turn: hear a person's recording (decode + speech-to-text) and speak a
reply in the persona's voice, encoded as the file a channel plays. Adapters are built once and
load their models on first use, so start-up never pays for them."""

from __future__ import annotations

from dataclasses import dataclass

from personae.contracts import SpeechToText, TextToSpeech
from personae.settings import Settings
from personae.types import Transcript, VoiceSettings
from personae.voice import codec
from personae.voice.adapters import speech_to_text, text_to_speech


@dataclass(frozen=True, slots=True)
class SpokenReply:
    """Speech encoded for sending: the file, its MIME type and how long it plays."""

    data: bytes
    mime_type: str
    duration_s: float
    format: str


class VoiceNotes:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._stt: SpeechToText | None = None
        self._tts: dict[str, TextToSpeech] = {}

    @property
    def stt(self) -> SpeechToText:
        if self._stt is None:
            self._stt = speech_to_text(self._settings)
        return self._stt

    def tts_name(self, voice: VoiceSettings | None) -> str:
        return (voice.engine if voice else None) or self._settings.tts_engine

    def tts(self, voice: VoiceSettings | None) -> TextToSpeech:
        name = self.tts_name(voice)
        if name not in self._tts:
            self._tts[name] = text_to_speech(self._settings, name)
        return self._tts[name]

    async def hear(self, audio: bytes, mime_type: str | None) -> Transcript:
        return await self.stt.transcribe(audio, mime_type)

    async def speak(self, text: str, voice: VoiceSettings | None, fmt: str) -> SpokenReply:
        """``text`` in the persona's voice as a complete ``fmt`` file (a key of codec.FORMATS)."""
        speech = await self.tts(voice).synthesize(
            text, voice=voice.voice if voice else None, speed=voice.speed if voice else 1.0
        )
        data = codec.encode(speech, fmt)
        return SpokenReply(data, codec.FORMATS[fmt].mime_type, speech.duration_s, fmt)
