"""Voice notes become words: after an audio attachment is fetched, speech-to-text hears it and
the transcript becomes the person's message text (the attachment's record keeps its hash and
the transcript). The turn waits for this: its job is submitted only once hearing is done, so
the model never answers "[a voice message]" while the transcript is still on its way.

Audio that cannot be heard (corrupt, too long, a lying MIME type, the adapter down) leaves a
line saying why, in place of the transcript, and the turn goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from personae.channels.describe import attachment_line, clean, turn_text
from personae.errors import PersonaeError
from personae.stores.channel_state import MediaRecord
from personae.types import ChannelMessage
from personae.voice.notes import VoiceNotes

log = logging.getLogger("personae.channels")


class HeardLog(Protocol):
    async def record_heard(
        self, message_id: int, position: int, transcript: str, content: str
    ) -> None: ...


def spoke(message: ChannelMessage) -> bool:
    """The person sent audio: a voice note, or an audio file."""
    return any(a.kind == "audio" for a in message.attachments)


async def hear(
    voice: VoiceNotes,
    store: HeardLog,
    message: ChannelMessage,
    message_id: int,
    records: Sequence[MediaRecord],
    limits: Mapping[str, int],
    max_chars: int,
) -> None:
    """Transcribe each fetched audio attachment and rewrite the stored message text."""
    content = turn_text(message, limits)
    heard: list[tuple[int, str]] = []
    for record in records:
        attachment = message.attachments[record.position]
        if record.kind != "audio":
            continue
        line = attachment_line(attachment, limits)
        noun = "voice message" if attachment.voice else "audio file"
        if record.status != "ok" or record.path is None:  # refused or lost by the media store
            why = record.error or "it could not be downloaded"
            content = content.replace(line, f"[The person sent a {noun} I could not hear: {why}]")
            continue
        try:
            data = await asyncio.to_thread(Path(record.path).read_bytes)
            transcript = (await voice.hear(data, record.mime_type)).text
        except (PersonaeError, OSError) as exc:
            log.info("voice note of message %s not heard: %s", message_id, exc)
            content = content.replace(line, f"[The person sent a {noun} I could not hear: {exc}]")
            continue
        transcript = clean(transcript).strip()
        said = transcript or "[The person sent a voice message with no words in it]"
        content = content.replace(line, said, 1)
        heard.append((record.position, transcript))
    content = content[:max_chars]
    for position, transcript in heard:
        await store.record_heard(message_id, position, transcript, content)
    if not heard:  # nothing heard: the text still says why, in place of the placeholder
        await store.record_heard(message_id, -1, "", content)
