"""Voice notes become words: the turn's worker fetches an audio attachment, speech-to-text
hears it, and the transcript becomes the person's message text (the attachment's record keeps
its hash and the transcript) before the turn reads it (Inbound.hear_first). The job goes in line
at accept like any other, so a text sent right after a voice note is answered after it, and the
model never answers "[a voice message]" while the transcript is still on its way.

Audio that cannot be heard (corrupt, too long, a lying MIME type, the adapter down) leaves a
line saying why, in place of the transcript, and the turn goes on.

The stored text keeps the placeholder until hearing replaces it (``unheard``), and the job keeps
the attachments' platform references: a turn cut short by a crash is heard again on resume.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from personae.channels.describe import attachment_line, clean
from personae.contracts import MediaStore
from personae.errors import PersonaeError
from personae.types import Attachment, ChannelMessage, MediaRecord
from personae.voice.notes import VoiceNotes

log = logging.getLogger("personae.channels")


class HeardLog(Protocol):
    async def record_heard(
        self, message_id: int, position: int, transcript: str, content: str
    ) -> None: ...


def spoke(message: ChannelMessage) -> bool:
    """The person sent audio: a voice note, or an audio file."""
    return any(a.kind == "audio" for a in message.attachments)


def unheard(content: str, attachments: Sequence[Attachment], limits: Mapping[str, int]) -> bool:
    """The stored text still holds an audio attachment's placeholder: it was never heard
    (hearing replaces each one, with the transcript or with why it could not be heard)."""
    return any(a.kind == "audio" and attachment_line(a, limits) in content for a in attachments)


async def hear(
    voice: VoiceNotes,
    store: HeardLog,
    media: MediaStore,
    message_id: int,
    content: str,
    attachments: Sequence[Attachment],
    records: Sequence[MediaRecord],
    limits: Mapping[str, int],
    max_chars: int,
) -> str:
    """Transcribe each stored audio attachment and rewrite the message text: ``content``, its
    text with one placeholder line per attachment. Returns the text as stored."""
    heard: list[tuple[int, str]] = []
    for record in records:
        attachment = attachments[record.position]
        if record.kind != "audio":
            continue
        line = attachment_line(attachment, limits)
        noun = "voice message" if attachment.voice else "audio file"
        if record.status != "ok" or record.sha256 is None:  # refused or lost by the media store
            why = record.error or "it could not be downloaded"
            content = content.replace(line, f"[The person sent a {noun} I could not hear: {why}]")
            continue
        try:
            data = await media.read(record.sha256)
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
    return content
