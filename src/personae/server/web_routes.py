"""The web chat: the static page at /, and the JSON/SSE endpoints it calls under /web.

A person is a random id in the ``personae_person`` cookie (HttpOnly, SameSite=Lax), so the
conversation with each persona (channel "web") survives a reload.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from importlib import resources
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from personae.core.avatars import IMAGE_TYPES
from personae.core.locale import preferred_language
from personae.errors import NotFound, PersonaNotFound
from personae.server.abuse import admit
from personae.server.deps import RuntimeDep
from personae.server.openai_schema import PICTURE_ONLY
from personae.server.sse import encode, native_stream, prime, sse_response
from personae.server.web_media import MAX_IMAGES, media_ref, message_images, voice_sha
from personae.server.web_video import video_replies
from personae.server.web_voice import NO_WORDS, hear_note, spoke_ids, spoken_replies
from personae.server.wire import persona_card, turn_result_json
from personae.types import (
    MediaRecord,
    Persona,
    PersonRef,
    TurnFinished,
    TurnInput,
    TurnStarted,
)

router = APIRouter(tags=["web"])
WEB_CHANNEL = "web"
COOKIE = "personae_person"
COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest lifetime browsers accept
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: https:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# An avatar (SVG included) can never run script or load anything, even if opened directly.
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _static(name: str) -> bytes:
    return resources.files("personae.server").joinpath("static", name).read_bytes()


def _person(request: Request) -> tuple[str, bool]:
    """The cookie's person id, or a fresh one (True: the response must set the cookie)."""
    value = request.cookies.get(COOKIE, "")
    if _COOKIE_VALUE.fullmatch(value):
        return value, False
    return secrets.token_urlsafe(24), True


async def web_person_id(request: Request, runtime: RuntimeDep) -> str | None:
    """The stored person behind the request's cookie, if any."""
    value = request.cookies.get(COOKIE, "")
    if not _COOKIE_VALUE.fullmatch(value):
        return None
    return await runtime.store.find_person(PersonRef(WEB_CHANNEL, value))


def web_cookie(request: Request) -> tuple[str, bool]:
    """The cookie's person id, or a fresh one (True: the response must set the cookie)."""
    return _person(request)


def remember_cookie(request: Request, response: Response, person: str, new: bool) -> None:
    _remember(request, response, person, new)


def web_person(request: Request) -> str | None:
    """The cookie's person id, or None when the request carries no valid one."""
    value = request.cookies.get(COOKIE, "")
    return value if _COOKIE_VALUE.fullmatch(value) else None


def _remember(request: Request, response: Response, person: str, new: bool) -> None:
    if new:
        response.set_cookie(
            COOKIE,
            person,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )


@router.get("/", include_in_schema=False)
async def index(request: Request) -> Response:
    response = Response(_static("index.html"), media_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-cache"
    _remember(request, response, *_person(request))
    return response


@router.get("/static/{name}", include_in_schema=False)
async def static_file(name: str) -> Response:
    media_type = _STATIC.get(name)
    if media_type is None:
        raise NotFound(f"no static file {name!r}; the web chat uses only {', '.join(_STATIC)}")
    return Response(_static(name), media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/web/personas")
async def web_personas(runtime: RuntimeDep) -> Any:
    records = await runtime.store.list_personas(include_unpublished=False)
    return {"personas": [persona_card(r.persona) for r in records]}


async def published(runtime: RuntimeDep, slug: str) -> Persona:
    """Unpublished personas are hidden from the web chat, as if they did not exist."""
    record = await runtime.store.get_persona(slug)
    if not record.persona.published:
        raise PersonaNotFound(slug)
    return record.persona


@router.get("/web/personas/{slug}/conversation")
async def web_conversation(
    slug: str, request: Request, response: Response, runtime: RuntimeDep
) -> Any:
    """The persona's card and this person's earlier messages with it (oldest first)."""
    persona = await published(runtime, slug)
    person, new = _person(request)
    _remember(request, response, person, new)
    messages: list[dict[str, Any]] = []
    person_id = None if new else await runtime.store.find_person(PersonRef(WEB_CHANNEL, person))
    if person_id is not None:
        found = await runtime.store.list_conversations(slug, person_id, 1, 0)
        if found:
            stored = await runtime.store.conversation_messages(found[0].id)
            files = {m.id: await runtime.store.message_attachments(m.id) for m in stored}
            videos = video_replies(persona, stored)
            spoke = spoke_ids(files)
            spoken = spoken_replies(persona, stored, spoke, set(videos))
            messages = [
                {"id": m.id, "role": m.role, "content": m.content,
                 "images": _image_refs(person, files[m.id]), "video": m.id in videos,
                 "voice": m.id in spoken, "voice_note": m.id in spoke}
                for m in stored
            ]  # fmt: skip
    return {"persona": persona_card(persona), "messages": messages}


def _image_refs(person: str, records: list[MediaRecord]) -> list[str]:
    return [
        media_ref(person, r.sha256)
        for r in records
        if r.status == "ok" and r.kind == "image" and r.sha256
    ]


class WebMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    images: list[str] = Field(default_factory=list, max_length=MAX_IMAGES)
    voice: str | None = Field(
        default=None, max_length=120, description="A voice note's ref from POST /web/uploads"
    )


@router.post(
    "/web/personas/{slug}/messages",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def web_message(
    slug: str, body: WebMessage, request: Request, runtime: RuntimeDep
) -> Response:
    """Server-sent events: `heard` {"text"} first when the message is a voice note (`voice`:
    its ref from POST /web/uploads), `delta` {"text"}*, then `done` {message, reply, trace} or
    `error`."""
    await published(runtime, slug)
    person, new = _person(request)
    alone = body.images and not body.text.strip() and body.voice is None  # a photo, no words
    text = PICTURE_ONLY if alone else body.text
    # The browser's preferred language (its region picks the crisis line, should one be needed).
    language = preferred_language(request.headers.get("accept-language", ""))
    turn = TurnInput(slug, text, person=PersonRef(WEB_CHANNEL, person), language=language)
    runtime.turns.check(turn)  # an oversized message is refused before it spends a token
    await admit(runtime, request, turn.person)
    if body.images:
        turn = replace(turn, media=await message_images(runtime, person, body.images))
    if body.voice is not None:  # heard before the turn: its words are the message
        turn = await _heard(runtime, person, body.voice, turn)
    primed = await prime(runtime.turns.run(turn))

    def done(started: TurnStarted | None, finished: TurnFinished) -> dict[str, Any]:
        return turn_result_json(started, finished, turn.text)

    stream = native_stream(primed, done)
    if turn.heard:
        stream = _after_heard(turn.text, stream)
    response = sse_response(stream)
    _remember(request, response, person, new)
    return response


async def _heard(runtime: RuntimeDep, person: str, ref: str, turn: TurnInput) -> TurnInput:
    """The turn with the voice note's words as its text (after any typed words)."""
    heard = await hear_note(runtime, voice_sha(person, ref), runtime.settings.max_message_chars)
    said = heard.transcript or NO_WORDS
    text = f"{turn.text.strip()}\n\n{said}" if turn.text.strip() else said
    return replace(turn, text=text[: runtime.settings.max_message_chars], heard=(heard,))


async def _after_heard(text: str, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``heard`` {"text"} first: the page shows the person's words before the reply streams."""
    yield encode(json.dumps({"text": text}), "heard")
    async for chunk in stream:
        yield chunk


class WebRating(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: Literal[-1, 0, 1] = Field(description="1 thumbs up, -1 thumbs down, 0 removes it")


@router.post("/web/messages/{message_id}/rating")
async def web_rating(
    message_id: int, body: WebRating, request: Request, runtime: RuntimeDep
) -> Any:
    """Rate a reply in this person's own web conversation; any other message answers 404."""
    person_id = await web_person_id(request, runtime)
    rated = person_id is not None and await runtime.store.rate_web_reply(
        message_id, person_id, WEB_CHANNEL, body.value
    )
    if not rated:
        raise NotFound(f"no reply {message_id} in your conversations to rate")
    return {"message_id": message_id, "value": body.value}


@router.get("/web/personas/{slug}/avatar")
async def web_avatar(slug: str, runtime: RuntimeDep) -> Response:
    """The avatar image, or a redirect to its https:// URL; only from allowed places."""
    avatar = (await published(runtime, slug)).avatar
    url = runtime.avatars.url(avatar)
    if url is not None:
        return RedirectResponse(url)
    path = runtime.avatars.file(avatar)
    if path is None:
        raise NotFound(
            f"persona {slug!r} has no avatar image the server may serve; set its `avatar` to a "
            ".png, .jpg, .webp, .gif or .svg next to the persona file or in $PERSONAE_HOME, "
            "or to an https:// URL on a host in PERSONAE_AVATAR_HOSTS"
        )
    headers = {"Content-Security-Policy": IMAGE_CSP, "Cache-Control": "public, max-age=3600"}
    return FileResponse(path, media_type=IMAGE_TYPES[path.suffix.lower()], headers=headers)
