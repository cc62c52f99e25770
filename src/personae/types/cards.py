"""A Character Card as stored next to the persona it was imported as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from personae.types.persona import Persona

CardFormat = Literal["v2", "v3", "charx"]


@dataclass(frozen=True, slots=True)
class CardRecord:
    """The card as it came (JSON text), the persona the import made of it (fields still equal
    to it are exported as the original had them), its PNG image and CHARX files."""

    card: str
    imported: Persona
    image: bytes | None = None
    assets: tuple[tuple[str, bytes], ...] = ()
