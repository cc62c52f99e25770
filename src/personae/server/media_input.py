"""Images a caller sends (OpenAI image_url parts, web chat uploads) as image parts of a turn.

Each is sniffed and checked against the limits before the turn is accepted, so a corrupt,
oversized or disguised file is a 400 naming the field, and nothing of it is stored; a kept
conversation stores the checked bytes in the media store when the turn is accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from personae.errors import MediaRefused
from personae.media.remote import RemoteImages, decode_data_url
from personae.media.sniff import MediaLimits
from personae.media.store import inspect
from personae.server.errors import FieldError
from personae.settings import Settings
from personae.types import ImagePart

REMOTE_OFF = (
    "remote image URLs are not fetched by this server (PERSONAE_MEDIA_FETCH_REMOTE is off); "
    "send the image as a data URL (data:image/jpeg;base64,...)"
)


async def image_parts(settings: Settings, refs: Sequence[tuple[str, str]]) -> tuple[ImagePart, ...]:
    """The checked images of (param, url) pairs; raises FieldError naming the bad one."""
    limits = MediaLimits.of(settings)
    parts: list[ImagePart] = []
    for param, url in refs:
        try:
            data, declared = await _bytes_of(settings, limits, param, url)
            media = await asyncio.to_thread(inspect, data, limits, "image", declared)
        except MediaRefused as refused:
            raise FieldError(param, f"{param}: {refused}") from None
        parts.append(ImagePart(media, data))
    return tuple(parts)


async def checked_image(settings: Settings, data: bytes, declared: str | None) -> ImagePart:
    """One uploaded image, sniffed and within the limits; raises MediaRefused."""
    media = await asyncio.to_thread(inspect, data, MediaLimits.of(settings), "image", declared)
    return ImagePart(media, data)


async def _bytes_of(
    settings: Settings, limits: MediaLimits, param: str, url: str
) -> tuple[bytes, str | None]:
    scheme = url[:8].lower()
    if scheme.startswith("data:"):
        return decode_data_url(url, limits.image_bytes)
    if not scheme.startswith(("http://", "https://")):
        raise FieldError(
            param, f"{param}: an image URL must be a data: URL or http(s); got {url[:40]!r}"
        )
    if not settings.media_fetch_remote:
        raise FieldError(param, f"{param}: {REMOTE_OFF}")
    return await RemoteImages(limits.image_bytes).fetch(url)
