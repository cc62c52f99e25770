"""Video — seconds of CPU-bound rendering per second of video reply, and output sizes against
each channel's limit.

    .venv/bin/python bench/video.py --json bench/results/video.json

The process is pinned to 2 cores (the target machine). A reply of a few sentences is spoken
by espeak-ng (timed apart: ``speech_s``), then rendered for each channel's format (avatar
moved by the speech's loudness, captions burned in, H.264 + AAC MP4): ``render_s_per_s`` is the
median render time / the video's duration (target <= 0.5). Sizes: the same reply, and the
longest video each format allows (its max_seconds of speech), against the channel's limit.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from _common import machine_info, print_table, verdict, warn_if_busy, write_json
from personae.settings import Settings
from personae.types import Speech
from personae.video.render import FORMATS, render, video_encoder
from personae.voice.espeak import EspeakTextToSpeech

TARGET = 0.5
CORES = 2
REPLY = (
    "Hello again! I'm so glad you asked. Today I tried a new recipe with roasted peppers and "
    "a little smoked paprika, and it turned out better than I hoped. Tell me what you cooked "
    "this week, and I'll suggest one small change that makes it shine."
)


def pin(cores: int) -> list[int]:
    usable = sorted(os.sched_getaffinity(0))
    chosen = usable[:cores]
    os.sched_setaffinity(0, chosen)
    return chosen


def photo_avatar() -> bytes:
    """A photo-like 768x1024 portrait (gradient, soft shapes, grain): harder to encode than a
    flat drawing, so the figure is not flattered."""
    y, x = np.mgrid[0:1024, 0:768].astype(np.float32)
    face = np.exp(-(((x - 384) / 190) ** 2 + ((y - 430) / 250) ** 2))
    base = np.stack([120 + 100 * face, 90 + 80 * face + y / 20, 140 - 60 * face], axis=-1)
    grain = np.random.default_rng(5).normal(0, 9, base.shape)
    pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def longest(speech: Speech, seconds: float) -> Speech:
    repeats = int(seconds / speech.duration_s) + 1
    pcm = (speech.pcm * repeats)[: int(seconds * speech.sample_rate) * 2]
    return Speech(pcm, speech.sample_rate)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    cores = pin(CORES)
    warn_if_busy()
    started = time.perf_counter()
    speech = await EspeakTextToSpeech(Settings()).synthesize(REPLY)
    speech_s = time.perf_counter() - started
    avatar = photo_avatar()
    rows: list[list[object]] = []
    formats: dict[str, Any] = {}
    for name, fmt in FORMATS.items():
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            made = render(avatar, speech, REPLY, fmt, name="Rosa")
            times.append(time.perf_counter() - t0)
        per_s = statistics.median(times) / made.duration_s
        long = render(avatar, longest(speech, fmt.max_seconds), REPLY * 12, fmt, name="Rosa")
        formats[name] = {
            "size_px": fmt.size, "fps": fmt.fps, "duration_s": round(made.duration_s, 2),
            "render_s_per_s": round(per_s, 3), "bytes": len(made.data),
            "max_seconds": fmt.max_seconds, "max_length_bytes": len(long.data),
            "limit_bytes": fmt.max_bytes, "within_limit": len(long.data) <= fmt.max_bytes,
        }  # fmt: skip
        rows.append([
            name, f"{fmt.size}px {fmt.fps}fps", round(made.duration_s, 1), per_s,
            f"{len(made.data) / 1024:.0f} KB",
            f"{fmt.max_seconds:g} s: {len(long.data) / 2**20:.1f} MB",
            f"{fmt.max_bytes / 2**20:.0f} MB", verdict(len(long.data) <= fmt.max_bytes),
        ])  # fmt: skip
    worst = max(f["render_s_per_s"] for f in formats.values())
    print(f"encoder {video_encoder()}, {len(cores)} cores {cores}, speech {speech_s:.2f} s")
    print_table(
        ["format", "frame", "video s", "render s/s", "size", "longest allowed", "limit", "size ok"],
        rows,
    )
    print(
        f"render_s_per_s (worst format) {worst:.3f}  target <= {TARGET}  {verdict(worst <= TARGET)}"
    )
    return {
        "render_s_per_s": worst, "target": TARGET, "pass": worst <= TARGET,
        "speech_s": round(speech_s, 3), "speech_duration_s": round(speech.duration_s, 2),
        "encoder": video_encoder(), "cores": cores, "formats": formats,
        "machine": machine_info(),
    }  # fmt: skip


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--json", type=Path, default=None, help="write the results here")
    cli.add_argument("--repeat", type=int, default=3, help="renders per format (median used)")
    arguments = cli.parse_args()
    write_json(arguments.json, asyncio.run(main(arguments)))
