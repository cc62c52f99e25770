"""What a file really is, from its bytes: the declared MIME type is a hint, never trusted.

Images are opened with Pillow: the header gives the format and the size, checked against the
pixel limit before anything is decoded (a decompression bomb is refused from its header), then
the file's structure is verified (PNG checksums and end marker) and the whole image decoded
once, so a truncated or corrupt file is refused here, not in a model's image loader later.
Other kinds are recognised by their magic numbers.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from personae.errors import MediaRefused
from personae.settings import Settings
from personae.types import MediaKind

# Pillow format -> MIME type of the images accepted (what vision models and channels take).
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
GENERIC = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Bytes per kind and the pixel cap, from the settings."""

    image_bytes: int
    image_pixels: int
    audio_bytes: int
    video_bytes: int
    document_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> MediaLimits:
        return cls(
            settings.media_max_image_bytes,
            settings.media_max_image_pixels,
            settings.media_max_audio_bytes,
            settings.media_max_video_bytes,
            settings.media_max_document_bytes,
        )

    def bytes_for(self, kind: MediaKind) -> int:
        if kind in ("image", "sticker"):
            return self.image_bytes
        return {"audio": self.audio_bytes, "video": self.video_bytes}.get(kind, self.document_bytes)

    @property
    def largest(self) -> int:
        return max(self.image_bytes, self.audio_bytes, self.video_bytes, self.document_bytes)


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: MediaKind
    mime_type: str
    width: int | None = None
    height: int | None = None


def sniff(
    data: bytes, limits: MediaLimits, kind: MediaKind | None = None, declared: str | None = None
) -> Sniffed:
    """What ``data`` is, within the limits of its kind; raises MediaRefused saying why not."""
    if not data:
        raise MediaRefused("the file is empty")
    cap = limits.bytes_for(kind) if kind is not None else limits.largest
    _check_size(len(data), cap, kind or "file")
    found = _image(data, limits) if _looks_like_image(data) else _by_magic(data, kind, declared)
    if kind is not None and not _compatible(kind, found.kind):
        said = f" (declared {declared})" if declared else ""
        raise MediaRefused(
            f"expected {_noun(kind)}{said}, but the content is {found.mime_type}; send a "
            f"file of the right type"
        )
    claimed = _major(declared) if declared else ""
    if claimed in ("image", "audio", "video") and claimed != _major(found.mime_type):
        raise MediaRefused(
            f"the file is declared as {declared} but its content is {found.mime_type}; "
            "send it with its real type"
        )
    final = kind if kind == "sticker" else found.kind
    _check_size(len(data), limits.bytes_for(final), final)
    return Sniffed(final, found.mime_type, found.width, found.height)


HEAD_BYTES = 16  # enough of a file's start to tell its type by magic number


def head_type(head: bytes, declared: str) -> str:
    """The MIME type a file's first bytes show (its whole content is judged by ``sniff``
    later), read as the ``declared`` kind where magic numbers are shared (MP4, WebM)."""
    return _image_magic(head) or _by_magic(head, None, declared).mime_type


def _check_size(size: int, cap: int, what: str) -> None:
    if size > cap:
        raise MediaRefused(
            f"the {what} is {size} bytes, over the limit of {cap}; send a smaller one"
        )


def _looks_like_image(data: bytes) -> bool:
    return _image_magic(data[:12]) is not None


def _image_magic(head: bytes) -> str | None:
    """The image type the magic number at the start of ``head`` names, if any."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _image(data: bytes, limits: MediaLimits) -> Sniffed:
    try:
        with warnings.catch_warnings():
            # Pillow warns (to the server's log) about a large image as it opens it; the
            # pixel limit below refuses it with a reason instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
        with image:
            mime = IMAGE_FORMATS.get(image.format or "")
            if mime is None:
                raise MediaRefused(f"images of format {image.format} are not accepted")
            width, height = image.size
            if width * height > limits.image_pixels:
                raise MediaRefused(
                    f"the image is {width}×{height} = {width * height} pixels, over the limit "
                    f"of {limits.image_pixels}; send a smaller image"
                )
            image.verify()  # chunk checksums and the end marker (PNG): a cut file fails
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # the whole decode: a truncated or corrupt file fails here
    except MediaRefused:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaRefused(
            f"the image decodes to too many pixels ({exc}); send a smaller one"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MediaRefused(
            f"the image is corrupt or truncated ({type(exc).__name__}: {exc}); send it again"
        ) from None
    return Sniffed("image", mime, width, height)


def _by_magic(data: bytes, kind: MediaKind | None, declared: str | None) -> Sniffed:
    head = data[:16]
    if head.startswith(b"OggS"):
        return Sniffed("audio", "audio/ogg")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return Sniffed("audio", "audio/mpeg")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Sniffed("audio", "audio/wav")
    if head.startswith(b"fLaC"):
        return Sniffed("audio", "audio/flac")
    if head.startswith(b"#!AMR"):
        return Sniffed("audio", "audio/amr")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        # An MP4 of sound only often carries a generic brand (isom, mp42): audio by intent.
        if brand.startswith(b"M4A") or kind == "audio" or (declared or "").startswith("audio/"):
            return Sniffed("audio", "audio/mp4")
        if brand.startswith(b"3gp"):
            return Sniffed("video", "video/3gpp")
        return Sniffed("video", "video/quicktime" if brand == b"qt  " else "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM: audio or video by intent
        if kind == "audio" or (declared or "").startswith("audio/"):
            return Sniffed("audio", "audio/webm")
        return Sniffed("video", "video/webm")
    if head.startswith(b"%PDF-"):
        return Sniffed("document", "application/pdf")
    if head.startswith(b"PK\x03\x04"):  # zip containers: office documents keep their type
        office = declared if declared and declared.startswith("application/vnd.") else None
        return Sniffed("document", office or "application/zip")
    if _is_text(data):
        return Sniffed("document", "text/plain")
    return Sniffed("document", GENERIC)


def _is_text(data: bytes) -> bool:
    try:
        sample = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in sample


def _compatible(wanted: MediaKind, found: MediaKind) -> bool:
    if wanted == "sticker":
        return found == "image"
    if wanted == "document":
        return True  # a document may be any file; it is stored as what it is
    return wanted == found


def _major(mime: str) -> str:
    return mime.split("/", 1)[0].strip().lower()


def _noun(kind: MediaKind) -> str:
    return {"image": "an image", "audio": "an audio file", "video": "a video"}.get(kind, "a file")
