"""Photos and voice notes in the web chat: a person uploads one, then sends it with a message.

``POST /web/uploads`` takes the file as the raw body (its Content-Type says what it claims to
be; the bytes decide). The size is refused from Content-Length before the body is read (the
body limit on this path: PERSONAE_MEDIA_MAX_AUDIO_BYTES for an ``audio/*`` Content-Type, a
voice note (server/web_voice.py), PERSONAE_MEDIA_MAX_IMAGE_BYTES for anything else, a photo),
the file is sniffed and decoded, then stored in the media store. The answer is a reference
bound to the person's cookie: an HMAC of the file's hash keyed by the cookie's secret id, so
only that browser can send or view it (another person who guessed the hash still cannot).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from fastapi import APIRouter, Request, Response

from personae.errors import BadRequest, MediaError, MediaRefused, NotFound
from personae.server.abuse import admit
from personae.server.deps import RuntimeDep
from personae.server.media_input import checked_image
from personae.types import ImagePart, PersonRef

router = APIRouter(tags=["web"])
UPLOAD_PATH = "/web/uploads"
MAX_IMAGES = 4  # photos one web chat message may carry
_REF = re.compile(r"([0-9a-f]{64})\.([0-9a-f]{32})")
IMAGE_CSP = "default-src 'none'; sandbox"
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            t: {"schema": {"type": "string", "format": "binary"}}
            for t in (
                "image/jpeg",
                "image/png",
                "image/webp",
                "image/gif",
                "audio/webm",
                "audio/ogg",
                "audio/mp4",
                "audio/mpeg",
                "audio/wav",
            )
        },
    }
}


def media_ref(person: str, sha256: str) -> str:
    """The person's handle on a stored file: its hash and a MAC keyed by their cookie id."""
    mac = hmac.new(person.encode(), sha256.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{sha256}.{mac}"


def _sha_of(person: str, ref: str) -> str:
    found = _REF.fullmatch(ref)
    if found is None or not hmac.compare_digest(media_ref(person, found[1]), ref):
        raise NotFound("no such photo or voice note here; upload it again (POST /web/uploads)")
    return found[1]


def _cookie_person(request: Request) -> str:
    from personae.server.web_routes import web_person  # the cookie rules live there

    person = web_person(request)
    if person is None:
        raise BadRequest(
            "no web chat person: open the web chat first (its cookie names you), then upload"
        )
    return person


@router.post(UPLOAD_PATH, openapi_extra=_UPLOAD_BODY)
async def upload(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
    """Store one photo for this browser's person; the answer's `ref` goes in a message."""
    person = _cookie_person(request)
    await admit(runtime, request, PersonRef("web", person))
    data = await request.body()  # the body limit refused an oversized one already
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower() or None
    if declared is not None and declared.startswith("audio/"):
        return await _voice_note(runtime, person, data, declared)
    try:
        part = await checked_image(runtime.settings, data, declared)
        stored = await runtime.media.put(part.data, "image", part.media.mime_type)
    except MediaRefused as refused:
        raise BadRequest(f"the photo was not accepted: {refused}") from None
    return {
        "ref": media_ref(person, stored.sha256),
        "mime_type": stored.mime_type,
        "width": stored.width,
        "height": stored.height,
        "size": stored.size,
    }


async def _voice_note(runtime: Any, person: str, data: bytes, declared: str) -> dict[str, Any]:
    from personae.server.web_voice import checked_voice_note

    try:
        media = await checked_voice_note(runtime.settings, data, declared)
        stored = await runtime.media.put(data, "audio", media.mime_type)
    except (MediaRefused, MediaError) as refused:
        raise BadRequest(f"the voice note was not accepted: {refused}") from None
    return {"ref": media_ref(person, stored.sha256), "mime_type": stored.mime_type,
            "size": stored.size}  # fmt: skip


def voice_sha(person: str, ref: str) -> str:
    """The stored voice note a message names; 404 for a ref that is not this person's."""
    return _sha_of(person, ref)


@router.get("/web/media/{ref}")
async def web_media(ref: str, request: Request, runtime: RuntimeDep) -> Response:
    """A photo this browser's person uploaded or sent, or a picture a persona sent them, by
    its reference."""
    person = _cookie_person(request)
    data = await runtime.media.read(_sha_of(person, ref))
    part = await checked_image(runtime.settings, data, None)
    headers = {"Content-Security-Policy": IMAGE_CSP, "Cache-Control": "private, max-age=3600"}
    return Response(data, media_type=part.media.mime_type, headers=headers)


async def message_images(runtime: Any, person: str, refs: list[str]) -> tuple[ImagePart, ...]:
    """The photos a web chat message names, read back and checked again."""
    if len(refs) > MAX_IMAGES:
        raise BadRequest(f"a message may carry {MAX_IMAGES} photos at most; send fewer")
    parts = []
    for ref in refs:
        data = await runtime.media.read(_sha_of(person, ref))
        parts.append(await checked_image(runtime.settings, data, None))
    return tuple(parts)
