"""Pictures a persona sends: the model asks for one with a marker in its reply.

Convention (told to the model in a prompt note when pictures are available):
``[[picture: what the picture shows]]`` on its own line. Markers are taken out of the stored
reply; each becomes an image message after the reply's text, drawn by whatever makes the
persona's pictures (runtime: the configured image generator, with the persona's look and seed).
"""

from __future__ import annotations

import re
from typing import Protocol

from personae.types import ContextBlock, Persona, StoredMedia

MARKER = re.compile(r"\[\[\s*picture\s*:\s*([^\]\n]{1,300}?)\s*\]\]", re.IGNORECASE)
MAX_PICTURES = 2  # pictures one reply may send
SOURCE = "pictures"
NOTE = (
    "[You can send the person a picture of yourself or of what you talk about: write "
    "[[picture: what it shows]] on its own line, at most once per reply, only when a picture "
    "really helps.]"
)


class PictureMaker(Protocol):
    """Finds or draws a persona's pictures (runtime: its gallery, then the image generator)."""

    def available(self, persona: Persona) -> bool:
        """Whether this persona can send pictures at all (then the prompt says how)."""
        ...

    async def make(self, persona: Persona, prompt: str) -> StoredMedia | None:
        """One picture of what ``prompt`` describes; None when none fits."""
        ...


def take_pictures(text: str) -> tuple[str, list[str]]:
    """The reply without its markers, and what each asked-for picture should show."""
    wanted = [m.strip() for m in MARKER.findall(text)][:MAX_PICTURES]
    if not wanted:
        return text, []
    cleaned = MARKER.sub("", text)
    cleaned = re.sub(r"[ \t]+\n", "\n", cleaned)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    return cleaned, wanted


def pictures_note() -> ContextBlock:
    reasons = (("pictures:marker", "a picture maker is configured"),)
    return ContextBlock(NOTE, SOURCE, position="after_persona", priority=500, reasons=reasons)
