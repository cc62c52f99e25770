"""Video replies in the web chat: a reply the persona's ``video_replies`` makes a video is
rendered on request, for the person whose conversation it is (their cookie), and played in
the page. Anyone else — another browser, no cookie, a reply that is not a video — gets 404.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request, Response

from personae.core.video_replies import video_plan
from personae.errors import EngineError, NotFound, PersonaeError
from personae.runtime import Runtime
from personae.server.abuse import admit
from personae.server.deps import RuntimeDep
from personae.types import Persona, PersonRef, StoredMessage, VideoPlan

router = APIRouter(tags=["web"])
VIDEO_PATH = "/web/personas/{slug}/messages/{message_id}/video"
VIDEO_CSP = "default-src 'none'; sandbox"


def video_replies(persona: Persona, messages: Sequence[StoredMessage]) -> dict[int, VideoPlan]:
    """The persona's replies among ``messages`` (oldest first) that are videos, by id."""
    found: dict[int, VideoPlan] = {}
    asked: int | None = None  # index of the person's latest message
    for index, message in enumerate(messages):
        if message.role == "user":
            asked = index
        elif message.role == "assistant" and asked is not None:
            plan = video_plan(persona, messages[asked], tuple(messages[:asked]))
            if plan is not None:
                found[message.id] = plan
    return found


async def own_messages(
    runtime: Runtime, request: Request, slug: str, missing: NotFound
) -> tuple[str, list[StoredMessage]]:
    """The web person's cookie and the messages of their conversation with ``slug`` (none
    yet: empty); ``missing`` when the request carries no person."""
    from personae.server.web_routes import web_person, web_person_id

    person_id = await web_person_id(request, runtime)
    cookie = web_person(request)
    if person_id is None or cookie is None:
        raise missing
    found = await runtime.store.list_conversations(slug, person_id, 1, 0)
    messages = await runtime.store.conversation_messages(found[0].id) if found else []
    return cookie, messages


@router.get(VIDEO_PATH, response_class=Response, responses={200: {"content": {"video/mp4": {}}}})
async def web_video(slug: str, message_id: int, request: Request, runtime: RuntimeDep) -> Response:
    """The reply as an MP4 of the persona saying it (H.264 + AAC, 480 px square)."""
    from personae.server.web_routes import WEB_CHANNEL, published

    persona = await published(runtime, slug)
    missing = NotFound(f"no video reply {message_id} in your conversation with {slug!r}")
    cookie, messages = await own_messages(runtime, request, slug, missing)
    plan = video_replies(persona, messages).get(message_id)
    if plan is None:
        raise missing
    await admit(runtime, request, PersonRef(WEB_CHANNEL, cookie))  # rendering costs CPU
    headers = {"Cache-Control": "private, max-age=3600", "Content-Security-Policy": VIDEO_CSP}
    reply = next(m for m in messages if m.id == message_id)
    try:  # rendered once: kept in the media store as the reply's attachment
        film = await runtime.video.film(reply.content, plan, "web", message_id)
    except PersonaeError as exc:
        raise EngineError(f"the video could not be made ({exc}); the reply's text stands") from exc
    return Response(film.data, media_type=film.mime_type, headers=headers)
