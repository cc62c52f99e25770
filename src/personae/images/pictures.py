"""The persona's pictures: from its gallery when a creator's picture matches what it wants to
show (embedding similarity between the wish and each picture's description), else drawn by
the configured image generator with the persona's appearance and fixed seed (one look).
Every picture goes through the media store, checked like any upload."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from personae.contracts import ImageGenerator, ImageGeneratorFactory, ImageRequest, MediaStore
from personae.core.avatars import AvatarPolicy
from personae.errors import ConfigError
from personae.plugins import image_generator_factories
from personae.settings import Settings
from personae.types import GalleryImage, Persona, StoredMedia

# Cosine similarity (MiniLM, unit vectors) a description needs to be "the picture asked
# for": with a generator to fall back on the gallery must fit well; without one, roughly.
MATCH_WITH_GENERATOR = 0.5
MATCH_GALLERY_ONLY = 0.3
Embed = Callable[[Sequence[str]], Any]  # texts -> unit-length rows (embed/minilm.py)


def persona_seed(persona: Persona) -> int:
    """The persona's own seed, else one derived from its id (stable across restarts)."""
    if persona.image_seed is not None:
        return persona.image_seed
    return zlib.crc32(persona.id.encode()) & 0x7FFFFFFF


class PersonaPictures:
    """PictureMaker (core/pictures.py): gallery first, then the image generator plugin."""

    def __init__(
        self, settings: Settings, media: MediaStore, files: AvatarPolicy, embed: Embed
    ) -> None:
        self._settings = settings
        self._media = media
        self._files = files  # gallery files are read only from where avatars may live
        self._embed = embed
        self._factory = _factory(settings.image_generator)
        self._generator: ImageGenerator | None = None
        self._lock = asyncio.Lock()

    def available(self, persona: Persona) -> bool:
        return bool(persona.gallery) or self._factory is not None

    async def make(self, persona: Persona, prompt: str) -> StoredMedia | None:
        chosen = await self._from_gallery(persona, prompt)
        if chosen is not None:
            return chosen
        if self._factory is None:
            return None
        generator = await self._ready(self._factory)
        size = self._settings.image_size
        data = await generator.generate(
            ImageRequest(prompt, persona.appearance, persona_seed(persona), size)
        )
        return await self._media.put(data, "image")

    async def _from_gallery(self, persona: Persona, prompt: str) -> StoredMedia | None:
        if not persona.gallery:
            return None
        best, score = await asyncio.to_thread(self._best, persona.gallery, prompt)
        floor = MATCH_WITH_GENERATOR if self._factory is not None else MATCH_GALLERY_ONLY
        if score < floor:
            return None
        path = self._files.file(best.file)
        if path is None:  # not an allowed image file (outside the persona and data folders)
            return None
        data = await asyncio.to_thread(path.read_bytes)
        return await self._media.put(data, "image")

    def _best(self, gallery: Sequence[GalleryImage], prompt: str) -> tuple[GalleryImage, float]:
        rows = np.asarray(self._embed([prompt, *(g.description for g in gallery)]))
        scores = rows[1:] @ rows[0]
        index = int(np.argmax(scores))
        return gallery[index], float(scores[index])

    async def _ready(self, factory: ImageGeneratorFactory) -> ImageGenerator:
        async with self._lock:
            if self._generator is None:
                self._generator = await factory(self._settings)
            return self._generator

    async def aclose(self) -> None:
        if self._generator is not None:
            await self._generator.aclose()


def _factory(name: str | None) -> ImageGeneratorFactory | None:
    if name is None:
        return None
    factories = image_generator_factories()
    if name not in factories:
        raise ConfigError(
            f"PERSONAE_IMAGE_GENERATOR is {name!r}; known image generators: "
            f"{', '.join(sorted(factories)) or 'none'}"
        )
    return factories[name]
