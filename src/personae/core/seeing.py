"""Images in a turn: shown to an engine that sees, or named honestly to one that cannot.

An engine declares ``accepts_images`` (EngineInfo). With one, the person's images ride on their
message as image parts and the trace notes each. With a text-only engine the persona gets a
note instead (not a canned reply): it cannot look at pictures with its current model, says so
in its own voice, and answers from the words and caption that came with the picture. Files
that were refused (corrupt, too large, not what they claimed) get a note too, so the persona
can tell the person kindly instead of pretending it saw something.
"""

from __future__ import annotations

from collections.abc import Sequence

from personae.types import ContextBlock, ImagePart, MediaRecord

SOURCE = "media"
# Prompt tokens counted per image shown to a model (vision models spend hundreds per image).
IMAGE_TOKENS = 768
SHOWN_KINDS = ("image", "sticker")

CANNOT_SEE = (
    "[The person's message comes with {count}. The model you run on now cannot look at "
    "pictures, so you do not know what it shows. Say so honestly and briefly, in character, "
    "and answer from their words or caption; never guess what the picture shows.]"
)
UNREADABLE = (
    "[The person also sent a file that could not be opened ({why}). Tell them kindly, in "
    "character, and ask them to send it again if it matters.]"
)


def seeing_blocks(
    images: Sequence[ImagePart],
    unreadable: Sequence[MediaRecord],
    accepts_images: bool,
    heard: Sequence[MediaRecord] = (),
) -> list[ContextBlock]:
    """The turn's media notes: trace-only for images shown and recordings heard (their words
    are the message already), prompt notes otherwise."""
    blocks: list[ContextBlock] = []
    if heard:
        reasons = tuple(
            (f"media:{r.sha256}", f"{r.mime_type}, {r.size} bytes, heard: {r.transcript!r}")
            for r in heard
        )
        blocks.append(_note("", reasons))
    if images:
        reasons = tuple(
            (f"media:{i.media.sha256}", _describe(i, "shown to the model" if accepts_images
                                                  else "not shown: the model is text-only"))
            for i in images
        )  # fmt: skip
        text = "" if accepts_images else CANNOT_SEE.format(count=_count(len(images)))
        blocks.append(_note(text, reasons))
    for record in unreadable:
        why = (record.error or record.status)[:300]
        reasons = ((f"media:{record.original_ref[:80]}", f"{record.kind} {record.status}: {why}"),)
        blocks.append(_note(UNREADABLE.format(why=why), reasons))
    return blocks


def images_of(records: Sequence[MediaRecord]) -> tuple[list[MediaRecord], list[MediaRecord]]:
    """The records of images to show, and those of files that could not be stored."""
    shown = [r for r in records if r.status == "ok" and r.kind in SHOWN_KINDS and r.sha256]
    unreadable = [r for r in records if r.status != "ok"]
    return shown, unreadable


def heard_of(records: Sequence[MediaRecord]) -> list[MediaRecord]:
    """The records of recordings speech-to-text heard (their transcript is on record)."""
    return [r for r in records if r.status == "ok" and r.kind == "audio" and r.transcript]


def _note(text: str, reasons: tuple[tuple[str, str], ...]) -> ContextBlock:
    # Right before the person's message, never dropped: it is about that message.
    return ContextBlock(
        text, SOURCE, position="in_history", depth=1, priority=900, droppable=False,
        reasons=reasons,
    )  # fmt: skip


def _describe(image: ImagePart, outcome: str) -> str:
    media = image.media
    size = f" {media.width}×{media.height}" if media.width and media.height else ""
    return f"{media.mime_type}{size}, {media.size} bytes, {outcome}"


def _count(n: int) -> str:
    return "a picture" if n == 1 else f"{n} pictures"
