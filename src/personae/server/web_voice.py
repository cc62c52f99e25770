"""Voice notes in the web chat, both ways.

In: the browser records a note and uploads it to ``POST /web/uploads`` with an ``audio/*``
Content-Type (its own body limit, PERSONAE_MEDIA_MAX_AUDIO_BYTES). The bytes decide what it
is, and it is decoded once to check it holds sound within PERSONAE_MAX_AUDIO_SECONDS before
anything is stored, so a refused note leaves nothing behind. When the message naming it is
sent, speech-to-text hears it: the words are the person's message, and the message's
attachment keeps the recording's hash with the transcript (the trace names both).

Back: the person plays their own voice note again (``RECORDING_PATH``), as stored, with its
sniffed audio type and nosniff; only from their own conversation, so a guessed id, another
browser or no cookie gets 404.

Out: a reply the persona speaks (``voice_replies: always``, or ``mirror`` after a voice note)
is spoken when the page's player asks for it, as AAC in MP4 (every current browser plays it),
once: the audio is kept as the reply's attachment. Another browser, no cookie, or a reply that
is not spoken gets 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from personae.errors import BadRequest, EngineError, MediaRefused, NotFound, PersonaeError
from personae.media.kept import KeptRenders, render_key
from personae.media.sniff import MediaLimits
from personae.media.store import inspect
from personae.server.abuse import admit
from personae.server.deps import RuntimeDep
from personae.types import HeardAudio, MediaRecord, Persona, PersonRef, StoredMedia, StoredMessage
from personae.voice import codec

if TYPE_CHECKING:
    from personae.runtime import Runtime
    from personae.settings import Settings

router = APIRouter(tags=["web"])
VOICE_PATH = "/web/personas/{slug}/messages/{message_id}/voice"
RECORDING_PATH = "/web/personas/{slug}/messages/{message_id}/recording"
VOICE_FORMAT = "m4a"  # AAC in MP4: Chromium, Firefox and Safari all play it
VOICE_CSP = "default-src 'none'; sandbox"
NO_WORDS = "[The person sent a voice message with no words in it]"


async def checked_voice_note(settings: Settings, data: bytes, declared: str | None) -> StoredMedia:
    """What an uploaded recording would be stored as: audio by its bytes, with sound in it,
    no longer than the limit. Raises MediaRefused or MediaError saying what was wrong."""
    media = await asyncio.to_thread(inspect, data, MediaLimits.of(settings), "audio", declared)
    # Decoding stops at the limit, so an over-long note costs only the limit's time.
    await asyncio.to_thread(
        codec.decode, data, max_seconds=settings.max_audio_seconds, mime_type=media.mime_type
    )
    return media


async def hear_note(runtime: Runtime, sha256: str, max_chars: int) -> HeardAudio:
    """What speech-to-text hears in a stored voice note; raises BadRequest for a stored file
    that is no recording, MediaError for one that cannot be decoded, EngineError."""
    data = await runtime.media.read(sha256)
    limits = MediaLimits.of(runtime.settings)
    try:
        media = await asyncio.to_thread(inspect, data, limits, "audio")
    except MediaRefused:
        raise BadRequest(
            "`voice` names a file that is no voice note (a photo?); send photos in `images`"
        ) from None
    heard = await runtime.voice.hear(data, media.mime_type)
    words = heard.text.encode("utf-8", "replace").decode("utf-8").strip()
    return HeardAudio(media, words[:max_chars])


def recording_of(records: Sequence[MediaRecord]) -> MediaRecord | None:
    """The voice note a person's message carries, as stored (a web message has one at most)."""
    return next(
        (r for r in records
         if r.kind == "audio" and r.status == "ok" and r.sha256
         and (r.mime_type or "").startswith("audio/")),
        None,
    )  # fmt: skip


def spoke_ids(attachments: dict[int, list[MediaRecord]]) -> set[int]:
    """The messages that carry a recording the person sent (a voice note)."""
    return {
        message_id
        for message_id, records in attachments.items()
        if any(r.kind == "audio" and r.original_ref == "upload" and r.status == "ok"
               for r in records)
    }  # fmt: skip


def spoken_replies(
    persona: Persona, messages: Sequence[StoredMessage], spoke: set[int], videos: set[int]
) -> set[int]:
    """The persona's replies among ``messages`` (oldest first) it says aloud: all of them with
    ``always``, those answering a voice note with ``mirror``; a video reply speaks in its video."""
    if persona.voice_replies == "never":
        return set()
    always = persona.voice_replies == "always"
    found: set[int] = set()
    asked: int | None = None  # the person's latest message
    for message in messages:
        if message.role == "user":
            asked = message.id
        elif message.role == "assistant" and asked is not None and message.id not in videos:
            found.update([message.id] if always or asked in spoke else [])
    return found


@router.get(VOICE_PATH, response_class=Response, responses={200: {"content": {"audio/mp4": {}}}})
async def web_voice(slug: str, message_id: int, request: Request, runtime: RuntimeDep) -> Response:
    """The reply spoken in the persona's voice (AAC in MP4)."""
    from personae.server.web_routes import WEB_CHANNEL, published
    from personae.server.web_video import own_messages, video_replies

    persona = await published(runtime, slug)
    missing = NotFound(f"no spoken reply {message_id} in your conversation with {slug!r}")
    cookie, messages = await own_messages(runtime, request, slug, missing)
    reply = next((m for m in messages if m.id == message_id and m.role == "assistant"), None)
    if reply is None:
        raise missing
    index = messages.index(reply)
    asked = next((m for m in reversed(messages[:index]) if m.role == "user"), None)
    attachments = {asked.id: await runtime.store.message_attachments(asked.id)} if asked else {}
    videos = set(video_replies(persona, messages))
    if message_id not in spoken_replies(persona, messages, spoke_ids(attachments), videos):
        raise missing
    await admit(runtime, request, PersonRef(WEB_CHANNEL, cookie))  # speaking costs CPU
    headers = {"Cache-Control": "private, max-age=3600", "Content-Security-Policy": VOICE_CSP}
    renders = KeptRenders(runtime.media, runtime.store)
    voice = persona.voice
    key = render_key(voice=voice.model_dump(mode="json"), text=reply.content, format=VOICE_FORMAT)
    mime_type = codec.FORMATS[VOICE_FORMAT].mime_type
    kept = await renders.find(message_id, key)
    if kept is not None:
        return Response(kept, media_type=mime_type, headers=headers)
    try:
        spoken = await runtime.voice.speak(reply.content, voice, VOICE_FORMAT)
    except PersonaeError as exc:
        raise EngineError(f"the reply could not be spoken ({exc}); its text stands") from exc
    await renders.keep(message_id, key, spoken.data, "audio", spoken.mime_type)
    return Response(spoken.data, media_type=spoken.mime_type, headers=headers)


@router.get(
    RECORDING_PATH,
    response_class=Response,
    responses={200: {"content": {t: {} for t in ("audio/webm", "audio/ogg", "audio/mp4")}}},
)
async def web_recording(
    slug: str, message_id: int, request: Request, runtime: RuntimeDep
) -> Response:
    """The voice note the person sent as their message ``message_id``, to play it again."""
    from personae.server.web_routes import published
    from personae.server.web_video import own_messages

    await published(runtime, slug)
    missing = NotFound(f"no voice note of yours in message {message_id} with {slug!r}")
    _, messages = await own_messages(runtime, request, slug, missing)
    if not any(m.id == message_id and m.role == "user" for m in messages):
        raise missing  # not theirs: never looked up, so an id says nothing about others
    record = recording_of(await runtime.store.message_attachments(message_id))
    if record is None or record.sha256 is None or record.mime_type is None:
        raise missing
    data = await runtime.media.read(record.sha256)  # NotFound once their data was erased
    headers = {
        "Cache-Control": "private, max-age=3600",
        "Content-Security-Policy": VOICE_CSP,
        "X-Content-Type-Options": "nosniff",  # played as the audio it was sniffed as, only
    }
    return Response(data, media_type=record.mime_type, headers=headers)
