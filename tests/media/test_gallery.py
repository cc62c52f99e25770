"""A persona's gallery: files resolved next to the persona file, the picture picked by
embedding similarity (the real MiniLM) between what the persona wants to show and each
description, read only from allowed folders, stored like any upload."""

from __future__ import annotations

from pathlib import Path

import pytest

from personae.core.avatars import AvatarPolicy
from personae.core.personas import load_persona_file
from personae.embed import load_minilm
from personae.errors import PersonaInvalid
from personae.images.pictures import PersonaPictures
from personae.media.sniff import MediaLimits
from personae.media.store import FolderMediaStore
from personae.settings import Settings

from .images import jpeg, png

PERSONA = """
id: dog-walker
name: Rex
greeting: Woof!
gallery:
  - file: pics/dog.png
    description: my golden retriever puppy playing fetch in the park
  - file: pics/ramen.jpg
    description: a steaming bowl of ramen I cooked last night
"""


def _persona_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "personas"
    (folder / "pics").mkdir(parents=True)
    (folder / "pics" / "dog.png").write_bytes(png(30, 20, (200, 160, 60)))
    (folder / "pics" / "ramen.jpg").write_bytes(jpeg())
    (folder / "rex.yaml").write_text(PERSONA)
    return folder


def _pictures(tmp_path: Path, roots: list[Path]) -> PersonaPictures:
    settings = Settings(home=tmp_path / "home")
    media = FolderMediaStore(tmp_path / "home" / "media", MediaLimits.of(settings))
    return PersonaPictures(
        settings, media, AvatarPolicy.of(roots, ""), lambda t: load_minilm().embed(t)
    )


async def test_the_gallery_picture_that_fits_is_chosen(tmp_path: Path) -> None:
    folder = _persona_folder(tmp_path)
    persona = load_persona_file(folder / "rex.yaml")
    assert persona.gallery[0].file == str((folder / "pics" / "dog.png").resolve())
    pictures = _pictures(tmp_path, [folder])
    assert pictures.available(persona)
    dog = await pictures.make(persona, "a photo of my dog")
    assert dog is not None and (dog.mime_type, dog.width) == ("image/png", 30)
    food = await pictures.make(persona, "the noodle soup dinner I made")
    assert food is not None and food.mime_type == "image/jpeg"
    # Nothing in the gallery fits and no generator is configured: no picture, no guess.
    assert await pictures.make(persona, "the tax return form for 2024") is None


async def test_gallery_files_outside_the_allowed_folders_are_never_read(tmp_path: Path) -> None:
    folder = _persona_folder(tmp_path)
    persona = load_persona_file(folder / "rex.yaml")
    pictures = _pictures(tmp_path, [tmp_path / "elsewhere"])
    assert await pictures.make(persona, "a photo of my dog") is None


def test_a_missing_gallery_file_names_the_entry(tmp_path: Path) -> None:
    folder = _persona_folder(tmp_path)
    (folder / "pics" / "ramen.jpg").unlink()
    with pytest.raises(PersonaInvalid, match=r"gallery\.1\.file"):
        load_persona_file(folder / "rex.yaml")
