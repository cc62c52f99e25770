"""Media as parts of a turn: what the media store keeps, an image on its way to a model,
and speech as data (raw PCM keeps speech adapters free of containers; encoding for a channel
is a separate step, ``personae.voice.codec``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["image", "audio", "video", "document", "sticker"]


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A file in the media store, named by the SHA-256 of its bytes: what it really is (the
    type sniffed from its content, never the type its sender declared) and its size."""

    sha256: str
    kind: MediaKind
    mime_type: str
    size: int
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image that goes into a prompt: the stored file and its bytes, read for this turn."""

    media: StoredMedia
    data: bytes


@dataclass(frozen=True, slots=True)
class HeardAudio:
    """A recording the person sent (already in the media store) and what speech-to-text heard
    in it: the heard words are the message, the attachment keeps both."""

    media: StoredMedia
    transcript: str


@dataclass(frozen=True, slots=True)
class OutboundImage:
    """A picture the persona sends on a channel: the file's bytes, its real type, a caption."""

    data: bytes
    mime_type: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """One attachment of a stored message, as stored (``status`` ok) or why not."""

    message_id: int
    position: int
    kind: str
    original_ref: str
    status: str
    mime_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    path: str | None = None
    error: str | None = None
    transcript: str | None = None  # an audio attachment: what speech-to-text heard


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
