"""Speech as data: the audio a text-to-speech adapter makes and the text a speech-to-text
adapter hears. Raw PCM keeps the adapters free of containers; encoding for a channel is a
separate step (``personae.voice.codec``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Speech:
    pcm: bytes  # signed 16-bit little-endian mono
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str | None
    duration_s: float
