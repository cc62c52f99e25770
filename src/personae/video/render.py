"""A short video of the persona speaking: its avatar moved by the loudness of its own speech,
the words burned in as captions, encoded offline with PyAV to H.264 + AAC in MP4.

Motion is a cheap, honest stand-in for lip sync: each frame's RMS loudness (quantised to a few
levels) scales the face, opens a band across the lower face and lifts the head a little. Frames
are built once per (loudness level, caption) pair and reused, so the cost is the encoder's.
Rendering is CPU-bound: ``render_video`` runs it in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import io
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from personae.errors import MediaError
from personae.types import Speech
from personae.voice import codec

LEVELS = 8  # loudness steps: more is smoother motion, fewer is more frame reuse
WORDS_PER_CAPTION = 7
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
MAX_AVATAR_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded


@dataclass(frozen=True, slots=True)
class VideoFormat:
    """What one channel plays: frame size (square: Telegram's round notes need it, and a
    square crop of a portrait avatar reads well everywhere), frame rate, limits."""

    name: str
    size: int  # width = height, even (yuv420p)
    fps: int
    max_seconds: float
    max_bytes: int
    video_kbps: int


# WhatsApp video: H.264 + AAC MP4, 16 MB. Telegram video note: square, at most 60 s (640 px
# wide at most). Messenger/Instagram video attachment: 25 MB. The web chat plays any of them.
FORMATS: dict[str, VideoFormat] = {
    "whatsapp": VideoFormat("whatsapp", 480, 20, 120.0, 16 * 1024 * 1024, 700),
    "telegram": VideoFormat("telegram", 384, 20, 60.0, 50 * 1024 * 1024, 600),
    "messenger": VideoFormat("messenger", 480, 20, 120.0, 25 * 1024 * 1024, 700),
    "web": VideoFormat("web", 480, 20, 120.0, 25 * 1024 * 1024, 700),
}
MIME_TYPE = "video/mp4"


@dataclass(frozen=True, slots=True)
class RenderedVideo:
    data: bytes
    mime_type: str
    duration_s: float
    size: int
    encoder: str


def video_encoder() -> str:
    """libx264 when this PyAV build has it (the PyPI wheels do), else FFmpeg's best other
    H.264 encoder; an error that says so when there is none."""
    import av

    available = av.codecs_available
    for name in ("libx264", "libopenh264", "h264_v4l2m2m"):
        if name in available:
            return name
    raise MediaError(
        "no H.264 encoder in this PyAV build; install the PyPI wheel of `av` (it bundles libx264)"
    )


async def render_video(
    avatar: bytes | None, speech: Speech, caption: str, fmt: VideoFormat, *, name: str = ""
) -> RenderedVideo:
    """``render`` in a worker thread: a request's event loop keeps serving while it encodes."""
    return await asyncio.to_thread(render, avatar, speech, caption, fmt, name=name)


def render(
    avatar: bytes | None, speech: Speech, caption: str, fmt: VideoFormat, *, name: str = ""
) -> RenderedVideo:
    """An MP4 of ``avatar`` (image bytes; None: a disc with ``name``'s initial) speaking
    ``speech`` with ``caption`` burned in. Speech longer than ``fmt.max_seconds`` is cut there.
    Raises MediaError for an avatar that is not an image and for output over the channel's
    size limit."""
    speech = _cut(speech, fmt.max_seconds)
    duration = speech.duration_s
    if duration <= 0:
        raise MediaError("the speech is empty: there is nothing to put in a video")
    face = _face(avatar, fmt.size, name)
    frame_count = max(1, math.ceil(duration * fmt.fps))
    levels = _loudness_levels(speech, frame_count)
    cues = _caption_cues(caption, duration, fmt.size)
    overlays = [_caption_layer(lines, fmt.size) for lines, _ in cues]
    encoder = video_encoder()
    # The bitrate that keeps the file inside the limit, with room for audio and the container.
    budget_kbps = int((fmt.max_bytes * 8 * 0.85) / duration / 1000) - 64
    kbps = max(100, min(fmt.video_kbps, budget_kbps))
    # faststart (the index before the data, so a phone plays while it downloads) rewrites
    # the file at the end: it needs a real file, not a buffer.
    with tempfile.TemporaryDirectory(prefix="personae-video-") as folder:
        target = Path(folder) / "reply.mp4"
        _encode(target, encoder, kbps, fmt, face, speech, levels, cues, overlays)
        data = target.read_bytes()
    if len(data) > fmt.max_bytes:
        raise MediaError(
            f"the {fmt.name} video came out at {len(data)} bytes, over its limit of "
            f"{fmt.max_bytes}; shorten the reply"
        )
    return RenderedVideo(data, MIME_TYPE, duration, fmt.size, encoder)


def _encode(
    target: Path, encoder: str, kbps: int, fmt: VideoFormat, face: Image.Image, speech: Speech,
    levels: np.ndarray, cues: list[tuple[list[str], float]], overlays: list[Image.Image | None],
) -> None:  # fmt: skip
    import av

    frames: dict[tuple[int, int], np.ndarray] = {}
    frame_count = len(levels)
    with av.open(str(target), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream(encoder, rate=fmt.fps)
        assert isinstance(video, av.VideoStream)
        video.width = video.height = fmt.size
        video.pix_fmt = "yuv420p"
        video.bit_rate = kbps * 1000
        if encoder == "libx264":
            # Baseline-compatible and no B-frames: what WhatsApp asks for; veryfast keeps a
            # second of video well under a second of CPU.
            video.options = {
                "preset": "veryfast",
                "profile": "main",
                "bf": "0",
                "tune": "animation",
            }
        audio = out.add_stream("aac", rate=44100, layout="mono")
        assert isinstance(audio, av.AudioStream)
        audio.bit_rate = 64000
        cue = 0
        for index in range(frame_count):
            at = index / fmt.fps
            while cue + 1 < len(cues) and at >= cues[cue + 1][1]:
                cue += 1
            key = (int(levels[index]), cue)
            pixels = frames.get(key)
            if pixels is None:
                pixels = _compose(face, key[0], overlays[cue] if overlays else None)
                frames[key] = pixels
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        sound = codec.resample(speech, 44100)
        samples = np.frombuffer(sound.pcm, dtype="<i2").reshape(1, -1)
        chunk = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        chunk.sample_rate = 44100
        for packet in audio.encode(chunk):
            out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)


def _cut(speech: Speech, max_seconds: float) -> Speech:
    limit = int(max_seconds * speech.sample_rate) * 2
    return speech if len(speech.pcm) <= limit else Speech(speech.pcm[:limit], speech.sample_rate)


def _loudness_levels(speech: Speech, frame_count: int) -> np.ndarray:
    """Each frame's RMS loudness, scaled to the speech's own loud parts, as 0..LEVELS-1."""
    samples = codec.as_float(speech)
    per_frame = max(1, len(samples) // frame_count)
    usable = samples[: per_frame * frame_count]
    if len(usable) < per_frame * frame_count:
        usable = np.pad(usable, (0, per_frame * frame_count - len(usable)))
    rms = np.sqrt(np.mean(usable.reshape(frame_count, per_frame) ** 2, axis=1))
    loud = float(np.percentile(rms, 95)) or 1.0
    scaled = np.clip(rms / loud, 0.0, 1.0)
    levels: np.ndarray = np.minimum(LEVELS - 1, (scaled * LEVELS).astype(np.int32))
    return levels


def _face(avatar: bytes | None, size: int, name: str) -> Image.Image:
    """The avatar cropped to a centred square at ``size``, on a plain background."""
    if avatar is None:
        return _initial_disc(size, name)
    try:
        with Image.open(io.BytesIO(avatar)) as probe:
            width, height = probe.size
            if width * height > MAX_AVATAR_PIXELS:
                raise MediaError(
                    f"the avatar is {width}x{height} pixels, more than {MAX_AVATAR_PIXELS}; "
                    "use a smaller image (1024x1024 is plenty)"
                )
            image = probe.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise MediaError(
            f"the avatar is not an image Pillow can read ({type(exc).__name__}); use a PNG, "
            "JPEG or WebP file"
        ) from exc
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize(
        (size, size), Image.Resampling.LANCZOS
    )


def _initial_disc(size: int, name: str) -> Image.Image:
    image = Image.new("RGB", (size, size), (32, 36, 48))
    draw = ImageDraw.Draw(image)
    margin = size // 6
    draw.ellipse((margin, margin, size - margin, size - margin), fill=(92, 120, 190))
    letter = (name.strip()[:1] or "?").upper()
    font = _font(size // 3)
    draw.text((size / 2, size / 2), letter, fill=(255, 255, 255), font=font, anchor="mm")
    return image


def _compose(face: Image.Image, level: int, overlay: Image.Image | None) -> np.ndarray:
    """One frame: the face scaled up, lifted and its mouth band stretched by ``level``."""
    size = face.width
    amount = level / (LEVELS - 1)
    scale = 1.0 + 0.05 * amount
    scaled = face.resize((round(size * scale),) * 2, Image.Resampling.BILINEAR)
    lift = round(size * 0.02 * amount)
    offset = (scaled.width - size) // 2
    frame = scaled.crop((offset, offset + lift, offset + size, offset + size + lift))
    pixels = np.asarray(frame).copy()
    # The mouth band (58-78 % down) opens: its rows are stretched downward over the chin.
    top, bottom = int(size * 0.58), int(size * 0.78)
    grow = round((bottom - top) * 0.35 * amount)
    if grow:
        rows = np.linspace(top, bottom - 1, bottom - top + grow).astype(np.int32)
        band = pixels[rows]
        end = min(size, top + len(rows))
        pixels[top:end] = band[: end - top]
    if overlay is not None:
        base = Image.fromarray(pixels)
        base.paste(overlay, (0, 0), overlay)
        pixels = np.asarray(base)
    return np.ascontiguousarray(pixels)


def _caption_cues(caption: str, duration: float, size: int) -> list[tuple[list[str], float]]:
    """The caption in pieces of a few words, each shown from its share of the words' time."""
    words = caption.split()
    if not words:
        return [([], 0.0)]
    font = _font(max(12, size // 18))
    cues: list[tuple[list[str], float]] = []
    for start in range(0, len(words), WORDS_PER_CAPTION):
        piece = words[start : start + WORDS_PER_CAPTION]
        cues.append((_wrap(piece, font, size * 0.9), duration * start / len(words)))
    return cues


def _wrap(
    words: list[str], font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float
) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in words:
        trial = f"{line} {word}".strip()
        if line and font.getlength(trial) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    if line:
        lines.append(line)
    return lines


def _caption_layer(lines: list[str], size: int) -> Image.Image | None:
    """White words on a dark band near the bottom, as an RGBA layer the size of the frame."""
    if not lines:
        return None
    font = _font(max(12, size // 18))
    layer = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    line_h = round(font.size * 1.25) if isinstance(font, ImageFont.FreeTypeFont) else 14
    height = line_h * len(lines) + line_h // 2
    top = size - height - size // 12
    draw.rectangle((0, top, size, top + height), fill=(0, 0, 0, 150))
    for number, text in enumerate(lines):
        y = top + line_h // 4 + number * line_h + line_h // 2
        draw.text((size / 2, y), text, fill=(255, 255, 255, 255), font=font, anchor="mm")
    return layer


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_FILES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)  # Pillow's own font: readable, if plain
    except TypeError:  # Pillow before 10.1 has only its small bitmap font
        return ImageFont.load_default()
