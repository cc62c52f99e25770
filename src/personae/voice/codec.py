"""Audio in and out of containers with PyAV (FFmpeg's libraries): any recording a person sends
becomes 16-bit mono PCM, and speech becomes the file each channel plays.

Decoding trusts the bytes, not the MIME type a sender claims: a PNG labelled audio/ogg is
refused because no audio stream decodes from it. Decoding stops as soon as the audio runs past
the limit, so an hour-long upload costs the time of the limit, not of the hour.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from personae.errors import MediaError
from personae.types import Speech

# PyAV is imported inside the functions: FFmpeg's libraries cost start-up time and memory
# (about 0.2 s and 25 MB), and a server that never meets audio should not pay them.

# Formats speech can be encoded to: container, codec, sample rate, MIME type.
# ``opus`` is an OGG/Opus voice note (WhatsApp, Telegram); ``m4a`` is AAC in MP4 (Messenger,
# Instagram); the others are the formats of OpenAI's /v1/audio/speech.


@dataclass(frozen=True, slots=True)
class AudioFormat:
    container: str
    codec: str
    sample_rate: int
    mime_type: str
    extension: str


FORMATS: dict[str, AudioFormat] = {
    "opus": AudioFormat("ogg", "libopus", 48000, "audio/ogg; codecs=opus", "ogg"),
    "mp3": AudioFormat("mp3", "libmp3lame", 24000, "audio/mpeg", "mp3"),
    "aac": AudioFormat("adts", "aac", 24000, "audio/aac", "aac"),
    "m4a": AudioFormat("mp4", "aac", 24000, "audio/mp4", "m4a"),
    "wav": AudioFormat("wav", "pcm_s16le", 24000, "audio/wav", "wav"),
    "flac": AudioFormat("flac", "flac", 24000, "audio/flac", "flac"),
    "pcm": AudioFormat("", "", 24000, "audio/pcm", "pcm"),  # raw s16le, 24 kHz, like OpenAI's
}


def decode(
    data: bytes, *, sample_rate: int = 16000, max_seconds: float, mime_type: str | None = None
) -> Speech:
    """The first audio stream of ``data`` as mono s16 PCM at ``sample_rate``.

    Raises MediaError for bytes that hold no decodable audio (corrupt, truncated, another kind
    of file whatever ``mime_type`` says), for silence of zero length, and for audio longer than
    ``max_seconds``.
    """
    import av

    claimed = f" (sent as {mime_type})" if mime_type else ""
    limit_samples = int(max_seconds * sample_rate)
    chunks: list[bytes] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise MediaError(
                    f"the file{claimed} holds no audio stream; send an audio recording"
                )
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pcm = out.to_ndarray().tobytes()
                    total += len(pcm) // 2
                    if total > limit_samples:
                        raise MediaError(
                            f"the audio is longer than the limit of {max_seconds:g} s; send a "
                            "shorter recording (the limit is PERSONAE_MAX_AUDIO_SECONDS)"
                        )
                    chunks.append(pcm)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().tobytes())
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise MediaError(
            f"the audio{claimed} could not be decoded ({type(exc).__name__}): it is corrupt, "
            "truncated, or not audio; send it again as OGG/Opus, MP3, M4A, WAV or FLAC"
        ) from exc
    pcm = b"".join(chunks)
    if not pcm:
        raise MediaError(f"the audio{claimed} decodes to nothing: it is empty or truncated")
    return Speech(pcm, sample_rate)


def resample(speech: Speech, sample_rate: int) -> Speech:
    """The same speech at another rate (linear interpolation is enough for speech codecs)."""
    if speech.sample_rate == sample_rate or not speech.pcm:
        return speech
    samples = np.frombuffer(speech.pcm, dtype="<i2").astype(np.float32)
    count = max(1, round(len(samples) * sample_rate / speech.sample_rate))
    positions = np.linspace(0, len(samples) - 1, count)
    out = np.interp(positions, np.arange(len(samples)), samples)
    return Speech(np.clip(out, -32768, 32767).astype("<i2").tobytes(), sample_rate)


def encode(speech: Speech, fmt: str) -> bytes:
    """``speech`` as a complete file in ``fmt`` (a key of FORMATS)."""
    import av

    spec = FORMATS[fmt]
    speech = resample(speech, spec.sample_rate)
    if fmt == "pcm":
        return speech.pcm
    samples = np.frombuffer(speech.pcm, dtype="<i2").reshape(1, -1)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=spec.container) as container:
        stream = container.add_stream(spec.codec, rate=spec.sample_rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        if spec.codec == "libopus":
            stream.bit_rate = 32000  # voice notes: small enough for WhatsApp's 512 KB play icon
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = spec.sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def as_float(speech: Speech) -> np.ndarray:
    """Samples in [-1, 1) as float32, the input speech models take."""
    return np.frombuffer(speech.pcm, dtype="<i2").astype(np.float32) / 32768.0
