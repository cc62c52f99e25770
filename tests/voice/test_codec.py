"""Audio containers through PyAV: every output format decodes back to the same length, and what
is not audio, or too long, is refused with a message that says so."""

from __future__ import annotations

import math
import struct

import pytest

from personae.errors import MediaError
from personae.types import Speech
from personae.voice import codec


def tone(seconds: float, rate: int = 16000) -> Speech:
    samples = (
        int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))
    )
    return Speech(b"".join(struct.pack("<h", s) for s in samples), rate)


def test_speech_duration_counts_16_bit_samples() -> None:
    assert Speech(b"\x00\x00" * 8000, 16000).duration_s == 0.5


@pytest.mark.parametrize("fmt", [f for f in codec.FORMATS if f != "pcm"])
def test_every_format_decodes_back_to_the_same_length(fmt: str) -> None:
    data = codec.encode(tone(1.5), fmt)
    back = codec.decode(data, max_seconds=10)
    assert abs(back.duration_s - 1.5) < 0.08, fmt


def test_voice_note_is_ogg_opus() -> None:
    data = codec.encode(tone(1.0), "opus")
    assert data[:4] == b"OggS" and b"OpusHead" in data[:200]
    assert codec.FORMATS["opus"].mime_type == "audio/ogg; codecs=opus"


def test_messenger_audio_is_aac_in_mp4() -> None:
    data = codec.encode(tone(1.0), "m4a")
    assert data[4:8] == b"ftyp"


def test_pcm_is_raw_24khz_samples() -> None:
    assert len(codec.encode(tone(1.0), "pcm")) == 24000 * 2


def test_a_picture_sent_as_audio_is_refused_naming_the_claimed_type() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(2000)
    with pytest.raises(MediaError, match=r"sent as audio/ogg"):
        codec.decode(png, max_seconds=10, mime_type="audio/ogg")


def test_empty_and_garbage_bytes_are_refused() -> None:
    with pytest.raises(MediaError):
        codec.decode(b"", max_seconds=10)
    with pytest.raises(MediaError):
        codec.decode(b"OggS" + bytes(range(256)) * 4, max_seconds=10)


def test_a_truncated_voice_note_is_refused_or_shorter_never_a_crash() -> None:
    data = codec.encode(tone(2.0), "opus")
    for cut in (10, 60, len(data) // 2):
        try:
            back = codec.decode(data[:cut], max_seconds=10)
        except MediaError:
            continue
        assert back.duration_s < 2.0


def test_audio_over_the_limit_is_refused_while_decoding() -> None:
    with pytest.raises(
        MediaError, match=r"longer than the limit of 1 s.*PERSONAE_MAX_AUDIO_SECONDS"
    ):
        codec.decode(codec.encode(tone(3.0), "opus"), max_seconds=1)
