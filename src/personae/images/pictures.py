"""The persona's pictures, drawn by the configured image generator and kept in the media
store: the persona's appearance and fixed seed go with every request, so it keeps one look."""

from __future__ import annotations

import asyncio
import zlib

from personae.contracts import ImageGenerator, ImageRequest, MediaStore
from personae.errors import ConfigError
from personae.plugins import image_generator_factories
from personae.settings import Settings
from personae.types import Persona, StoredMedia


def persona_seed(persona: Persona) -> int:
    """The persona's own seed, else one derived from its id (stable across restarts)."""
    if persona.image_seed is not None:
        return persona.image_seed
    return zlib.crc32(persona.id.encode()) & 0x7FFFFFFF


class GeneratedPictures:
    """PictureMaker (core/pictures.py) over an ImageGenerator plugin, built on first use."""

    def __init__(self, settings: Settings, media: MediaStore) -> None:
        name = settings.image_generator
        factories = image_generator_factories()
        if name is None or name not in factories:
            raise ConfigError(
                f"PERSONAE_IMAGE_GENERATOR is {name!r}; known image generators: "
                f"{', '.join(sorted(factories)) or 'none'}"
            )
        self._factory = factories[name]
        self._settings = settings
        self._media = media
        self._generator: ImageGenerator | None = None
        self._lock = asyncio.Lock()

    async def make(self, persona: Persona, prompt: str) -> StoredMedia | None:
        generator = await self._ready()
        request = ImageRequest(
            prompt, persona.appearance, persona_seed(persona), self._settings.image_size
        )
        data = await generator.generate(request)
        return await self._media.put(data, "image")  # checked like any upload

    async def _ready(self) -> ImageGenerator:
        async with self._lock:
            if self._generator is None:
                self._generator = await self._factory(self._settings)
            return self._generator

    async def aclose(self) -> None:
        if self._generator is not None:
            await self._generator.aclose()
