"""Offline speech-to-text with PocketSphinx (BSD) and its bundled US English model: small and
fast, but far less accurate than Whisper (bench/voice.py); a fallback where Whisper is not
installed."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from personae.errors import ConfigError
from personae.types import Transcript
from personae.voice import codec

if TYPE_CHECKING:
    from personae.settings import Settings


class SphinxSpeechToText:
    name = "pocketsphinx"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._decoder: Any = None
        self._lock = threading.Lock()  # a decoder holds one utterance at a time

    def _run(self, audio: bytes, mime_type: str | None) -> Transcript:
        speech = codec.decode(
            audio,
            sample_rate=16000,
            max_seconds=self._settings.max_audio_seconds,
            mime_type=mime_type,
        )
        with self._lock:
            if self._decoder is None:
                try:
                    from pocketsphinx import Decoder
                except ImportError as exc:
                    raise ConfigError(
                        "speech-to-text `pocketsphinx` needs the pocketsphinx package; "
                        "install it with `pip install pocketsphinx`"
                    ) from exc
                self._decoder = Decoder(samprate=16000, loglevel="FATAL")
            decoder = self._decoder
            decoder.start_utt()
            decoder.process_raw(speech.pcm, full_utt=True)
            decoder.end_utt()
            hypothesis = decoder.hyp()
        return Transcript(hypothesis.hypstr if hypothesis else "", "en", speech.duration_s)

    async def transcribe(self, audio: bytes, mime_type: str | None) -> Transcript:
        return await asyncio.to_thread(self._run, audio, mime_type)
