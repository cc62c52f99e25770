"""The persona's video: a real H.264/AAC MP4 that FFmpeg decodes back, the avatar moving with
the speech's loudness, the words burned in while they are said, and each channel's limits."""

from __future__ import annotations

import asyncio
import io
import threading
from dataclasses import replace

import av
import numpy as np
import pytest
from PIL import Image

from personae.errors import MediaError
from personae.types import Speech
from personae.video import render as video
from personae.video.render import FORMATS, render, render_video

RATE = 16000


def speech(quiet_s: float, loud_s: float) -> Speech:
    """Silence, then a loud vowel-like tone: the avatar must be still, then move."""
    t = np.arange(int(loud_s * RATE)) / RATE
    loud = 12000 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    pcm = np.concatenate([np.zeros(int(quiet_s * RATE)), loud]).astype("<i2")
    return Speech(pcm.tobytes(), RATE)


def avatar_png(width: int = 300, height: int = 400) -> bytes:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    pixels[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)  # a gradient: motion shows
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def frames(data: bytes) -> tuple[list[np.ndarray], av.container.InputContainer]:
    container = av.open(io.BytesIO(data))
    return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)], container


def test_mp4_holds_h264_yuv420p_and_aac_of_the_speech_length() -> None:
    fmt = FORMATS["whatsapp"]
    made = render(avatar_png(), speech(0.5, 1.5), "Hello there friend", fmt)
    assert made.mime_type == "video/mp4" and made.encoder == "libx264"
    container = av.open(io.BytesIO(made.data))
    kinds = {s.type: s for s in container.streams}
    assert kinds["video"].codec_context.name == "h264"
    assert kinds["video"].codec_context.pix_fmt == "yuv420p"
    # WhatsApp asks for Main/Baseline and no B-frames.
    assert kinds["video"].codec_context.profile == "Main"
    assert not kinds["video"].codec_context.has_b_frames
    assert kinds["video"].width == kinds["video"].height == fmt.size and fmt.size % 2 == 0
    assert kinds["audio"].codec_context.name == "aac"
    assert container.duration is not None and abs(container.duration / 1e6 - 2.0) < 0.15
    assert b"moov" in made.data[:4096]  # faststart: playable while it downloads
    assert len(made.data) < fmt.max_bytes


def test_avatar_is_still_in_silence_and_moves_with_loud_speech() -> None:
    made = render(avatar_png(), speech(1.0, 1.0), "", FORMATS["telegram"])
    decoded, _ = frames(made.data)
    fps = FORMATS["telegram"].fps
    quiet = [f.astype(np.int16) for f in decoded[2 : fps - 2]]
    loud = [f.astype(np.int16) for f in decoded[fps + 2 : 2 * fps - 2]]
    still = max(float(np.abs(a - quiet[0]).mean()) for a in quiet)
    moved = max(float(np.abs(b - quiet[0]).mean()) for b in loud)
    assert moved > 10 * max(still, 0.5), (still, moved)


def test_captions_are_burned_in_while_their_words_are_said() -> None:
    fmt = FORMATS["telegram"]
    words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    plain, _ = frames(render(avatar_png(), speech(0.0, 2.0), "", fmt).data)
    captioned, _ = frames(render(avatar_png(), speech(0.0, 2.0), words, fmt).data)
    band = slice(int(fmt.size * 0.7), fmt.size)
    first = captioned[3][band].astype(np.int16)
    last = captioned[-3][band].astype(np.int16)
    assert np.abs(first - plain[3][band]).mean() > 10  # words over the bottom of the frame
    assert np.abs(first - last).mean() > 5  # the first seven words give way to the next seven


def test_telegram_note_is_square_and_cut_at_sixty_seconds() -> None:
    fmt = FORMATS["telegram"]
    made = render(None, speech(0.0, 61.5), "a long story", fmt, name="Ada")
    container = av.open(io.BytesIO(made.data))
    assert made.duration_s == pytest.approx(60.0)
    assert container.duration is not None and container.duration / 1e6 <= 60.2
    stream = container.streams.video[0]
    assert stream.width == stream.height == fmt.size <= 640


def test_output_over_the_channel_limit_is_refused() -> None:
    tiny = replace(FORMATS["whatsapp"], max_bytes=2000)
    with pytest.raises(MediaError, match="over its limit of 2000"):
        render(avatar_png(), speech(0.0, 2.0), "hi", tiny)


@pytest.mark.parametrize(
    "avatar", [b"not an image", avatar_png()[:200], b"<svg xmlns='http://www.w3.org/2000/svg'/>"]
)
def test_an_avatar_that_is_not_a_readable_image_is_refused(avatar: bytes) -> None:
    with pytest.raises(MediaError, match="PNG, JPEG or WebP"):
        render(avatar, speech(0.0, 0.5), "hi", FORMATS["web"])


def test_a_decompression_bomb_avatar_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, "PNG")  # 48 Mpx, a few kB on disk
    with pytest.raises(MediaError, match="smaller image"):
        render(buffer.getvalue(), speech(0.0, 0.5), "hi", FORMATS["web"])


def test_empty_speech_is_refused() -> None:
    with pytest.raises(MediaError, match="speech is empty"):
        render(avatar_png(), Speech(b"", RATE), "hi", FORMATS["web"])


def test_rendering_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    original = video.render

    def spy(*args: object, **kwargs: object) -> video.RenderedVideo:
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(video, "render", spy)
    made = asyncio.run(render_video(avatar_png(), speech(0, 0.5), "hi", FORMATS["web"]))
    assert made.data and seen and seen[0] != threading.main_thread().name


def test_captions_without_system_fonts_use_pillows_own(monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = FORMATS["telegram"]
    plain, _ = frames(render(avatar_png(), speech(0.0, 1.0), "", fmt).data)
    monkeypatch.setattr(video, "FONT_FILES", ("/nowhere/font.ttf",))
    captioned, _ = frames(render(avatar_png(), speech(0.0, 1.0), "still readable", fmt).data)
    band = slice(int(fmt.size * 0.7), fmt.size)
    assert np.abs(captioned[3][band].astype(np.int16) - plain[3][band]).mean() > 10
