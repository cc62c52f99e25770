"""A turn's files: the uploads recorded at accept, the person's images and recordings read for
the prompt (waiting for a channel's after-accept download), and the pictures a reply asks for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace

from personae.contracts import AttachmentLog, MediaStore
from personae.core.generation import Generated
from personae.core.pictures import PictureMaker, take_pictures
from personae.core.seeing import heard_of, images_of
from personae.errors import NotFound, PersonaeError
from personae.types import ImagePart, MediaRecord, Persona, PersonaRecord, StoredMedia, TurnInput

log = logging.getLogger("personae.core.turn")
MEDIA_POLL_S = 0.2  # how often a turn looks whether its attachments are recorded yet


class TurnFiles:
    """The media side of a TurnRunner (each part optional: without a store there are none)."""

    def __init__(
        self,
        media: MediaStore | None,
        attachments: AttachmentLog | None,
        wait_s: float,
        pictures: PictureMaker | None,
    ) -> None:
        self._media = media
        self._attachments = attachments
        self._wait_s = wait_s
        self._pictures = pictures

    def makes_pictures(self, persona: Persona) -> bool:
        return self._pictures is not None and self._pictures.available(persona)

    async def record_uploads(self, message_id: int, turn: TurnInput) -> None:
        """The web chat's and the API's files, recorded at accept, before the job is
        submitted: the turn finds them at once."""
        if turn.media and self._attachments is not None and self._media is not None:
            for position, part in enumerate(turn.media):
                media = await self._media.put(part.data, part.media.kind, part.media.mime_type)
                record = MediaRecord(
                    message_id, position, media.kind, "upload", "ok", media.mime_type,
                    media.size, media.sha256, self._media.location(media.sha256),
                )  # fmt: skip
                await self._attachments.add_attachment(record)
        if turn.heard and self._attachments is not None and self._media is not None:
            # Stored already (the upload); recorded here with what was heard in each.
            for position, heard in enumerate(turn.heard, start=len(turn.media)):
                media = heard.media
                record = MediaRecord(
                    message_id, position, media.kind, "upload", "ok", media.mime_type,
                    media.size, media.sha256, self._media.location(media.sha256),
                    transcript=heard.transcript,
                )  # fmt: skip
                await self._attachments.add_attachment(record)

    async def make_pictures(
        self, record: PersonaRecord, generated: Generated
    ) -> tuple[Generated, list[StoredMedia]]:
        """The reply without its picture markers, and the pictures they asked for."""
        if self._pictures is None or generated.status != "ok":
            return generated, []
        text, wanted = take_pictures(generated.text)
        if not wanted:
            return generated, []
        made: list[StoredMedia] = []
        for prompt in wanted:
            try:
                picture = await self._pictures.make(record.persona, prompt)
            except PersonaeError as exc:  # the words still go out; the picture is noted
                log.warning("picture %r for %s not made: %s", prompt[:60], record.persona.id, exc)
                picture = None
            if picture is not None:
                made.append(picture)
        return replace(generated, text=text or "📷"), made

    async def record_pictures(self, reply_id: int, pictures: Sequence[StoredMedia]) -> None:
        if self._attachments is None or self._media is None:
            return
        for position, media in enumerate(pictures):
            record = MediaRecord(
                reply_id, position, media.kind, "persona", "ok", media.mime_type, media.size,
                media.sha256, self._media.location(media.sha256),
            )  # fmt: skip
            await self._attachments.add_attachment(record)

    async def message_media(
        self, message_id: int, expected: int
    ) -> tuple[list[ImagePart], list[MediaRecord], list[MediaRecord]]:
        """The message's images (read from the media store), the files that could not be
        stored and the recordings heard. Waits for a channel's after-accept download to record
        all ``expected`` attachments, at most media_wait_s; what is still missing then is left
        out."""
        if expected <= 0 or self._attachments is None:
            return [], [], []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        records = await self._attachments.message_attachments(message_id)
        while len(records) < expected and loop.time() < deadline:
            await asyncio.sleep(MEDIA_POLL_S)
            records = await self._attachments.message_attachments(message_id)
        if len(records) < expected:
            log.info("message %d: %d of %d attachments in time", message_id, len(records), expected)
        shown, unreadable = images_of(records)
        stored = [
            StoredMedia(r.sha256 or "", "image", r.mime_type or "", r.size or 0) for r in shown
        ]
        return await self._read_images(stored), unreadable, heard_of(records)

    async def _read_images(self, media: Sequence[StoredMedia]) -> list[ImagePart]:
        if self._media is None:
            return []
        parts: list[ImagePart] = []
        for item in media:
            if item.kind not in ("image", "sticker"):
                continue
            try:
                parts.append(ImagePart(item, await self._media.read(item.sha256)))
            except NotFound:  # deleted since (a person's data erased): nothing to show
                log.info("media %s is gone; the turn goes on without it", item.sha256)
        return parts
