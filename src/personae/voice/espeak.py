"""Text-to-speech with espeak-ng (Debian package ``espeak-ng``, GPL-3, run as a separate
program): robotic but always there, the fallback voice. Its WAV comes back on stdout."""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING

from personae.errors import ConfigError, EngineError
from personae.types import Speech
from personae.voice import codec

if TYPE_CHECKING:
    from personae.settings import Settings

WORDS_PER_MINUTE = 175  # espeak-ng's own default rate, scaled by the persona's speed


class EspeakTextToSpeech:
    name = "espeak"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Speech:
        program = shutil.which("espeak-ng")
        if program is None:
            raise ConfigError(
                "text-to-speech `espeak` needs the espeak-ng program; install it with "
                "`apt-get install espeak-ng` (or brew install espeak-ng)"
            )
        rate = max(80, min(450, round(WORDS_PER_MINUTE * speed)))
        # The text goes on stdin, never on the command line: no option injection, no length cap.
        process = await asyncio.create_subprocess_exec(
            program, "--stdout", "-v", voice or "en-us", "-s", str(rate), "--stdin",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        wav, error = await process.communicate(text.encode())
        if process.returncode != 0 or not wav:
            said = error.decode(errors="replace")[:200]
            raise EngineError(
                f"espeak-ng failed (exit {process.returncode}): {said}; "
                "check the voice name with `espeak-ng --voices`"
            )
        return codec.decode(wav, sample_rate=22050, max_seconds=3600)
