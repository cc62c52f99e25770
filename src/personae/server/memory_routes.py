"""A person's memory, as that person: list, correct and delete what a persona remembers.

/api: through a conversation of the caller's own API client (any other is 404, as if it did
not exist), so a client reaches only its own people's memories. /web: the cookie's person.
The same store operations as the /memory, /forget and /correct chat commands.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from personae.errors import ConversationNotFound, MemoryNotFound, PersonaNotFound
from personae.memory.service import MemoryService
from personae.server.deps import ApiClientDep, RuntimeDep
from personae.server.identity import belongs_to
from personae.server.web_routes import WEB_CHANNEL, remember_cookie, web_cookie, web_person
from personae.types import PersonRef
from personae.types.memory import Memory

router = APIRouter()
MAX_FACT_CHARS = 2000


class Correction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str = Field(min_length=1, max_length=MAX_FACT_CHARS, description="The fact, reworded")


class MemoryChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool | None = Field(None, description="False: remember and recall nothing new")
    share: bool | None = Field(None, description="True: recall facts told to other personas")


def _memory_json(number: int, memory: Memory) -> dict[str, Any]:
    return {
        "number": number,
        "id": memory.id,
        "kind": memory.kind,
        "text": memory.text,
        "importance": memory.importance,
        "message_id": memory.message_id,
        "said_at": memory.said_at.isoformat(),
        "refers_to": memory.refers_to.isoformat() if memory.refers_to else None,
    }


async def _listing(memory: MemoryService, person_id: str, persona: str) -> dict[str, Any]:
    facts = await memory.store.facts(person_id, persona)
    choices = await memory.store.choices(person_id, persona)
    return {
        "enabled": choices.enabled,
        "share": choices.share,
        "memories": [_memory_json(n, m) for n, m in enumerate(facts, 1)],
    }


async def _correct(
    memory: MemoryService, person_id: str, persona: str, memory_id: int, text: str
) -> dict[str, Any]:
    new_id = await memory.correct(person_id, persona, memory_id, text.strip())
    if new_id is None:
        raise MemoryNotFound(memory_id)
    return await _listing(memory, person_id, persona)


async def _forget(memory: MemoryService, person_id: str, persona: str, memory_id: int) -> None:
    if not await memory.store.forget(person_id, persona, memory_id):
        raise MemoryNotFound(memory_id)


async def _choose(
    memory: MemoryService, person_id: str, persona: str, body: MemoryChoice
) -> dict[str, Any]:
    if body.enabled is not None:
        await memory.store.set_enabled(person_id, persona, body.enabled)
    if body.share is not None:
        await memory.store.set_share(person_id, persona, body.share)
    return await _listing(memory, person_id, persona)


# ---------------------------------------------------------------- /api (an API client's people)


async def _owner(conversation_id: str, runtime: RuntimeDep, client: str) -> tuple[str, str]:
    ref = await runtime.store.get_conversation(conversation_id)
    if not belongs_to(ref, client):
        raise ConversationNotFound(conversation_id)
    return ref.person_id, ref.persona_id


@router.get("/api/conversations/{conversation_id}/memory")
async def api_memory(conversation_id: str, runtime: RuntimeDep, client: ApiClientDep) -> Any:
    """What the persona remembers about this conversation's person, numbered as /memory."""
    person, persona = await _owner(conversation_id, runtime, client)
    return await _listing(runtime.memory, person, persona)


@router.put("/api/conversations/{conversation_id}/memory/settings")
async def api_memory_settings(
    conversation_id: str, body: MemoryChoice, runtime: RuntimeDep, client: ApiClientDep
) -> Any:
    person, persona = await _owner(conversation_id, runtime, client)
    return await _choose(runtime.memory, person, persona, body)


@router.put("/api/conversations/{conversation_id}/memory/{memory_id}")
async def api_correct_memory(
    conversation_id: str,
    memory_id: int,
    body: Correction,
    runtime: RuntimeDep,
    client: ApiClientDep,
) -> Any:
    person, persona = await _owner(conversation_id, runtime, client)
    return await _correct(runtime.memory, person, persona, memory_id, body.text)


@router.delete("/api/conversations/{conversation_id}/memory/{memory_id}", status_code=204)
async def api_forget_memory(
    conversation_id: str, memory_id: int, runtime: RuntimeDep, client: ApiClientDep
) -> Response:
    """Deleted, not hidden: with the facts it superseded and the message it came from."""
    person, persona = await _owner(conversation_id, runtime, client)
    await _forget(runtime.memory, person, persona, memory_id)
    return Response(status_code=204)


@router.delete("/api/conversations/{conversation_id}/memory")
async def api_forget_all(conversation_id: str, runtime: RuntimeDep, client: ApiClientDep) -> Any:
    person, persona = await _owner(conversation_id, runtime, client)
    return {"deleted": await runtime.memory.store.forget_all(person, persona)}


# ---------------------------------------------------------------- /web (the cookie's person)


async def _web_owner(slug: str, request: Request, runtime: RuntimeDep) -> str | None:
    record = await runtime.store.get_persona(slug)  # 404 for a persona that does not exist
    if not record.persona.published:
        raise PersonaNotFound(slug)
    cookie = web_person(request)
    if cookie is None:
        return None
    return await runtime.store.find_person(PersonRef(WEB_CHANNEL, cookie))


@router.get("/web/personas/{slug}/memory")
async def web_memory(slug: str, request: Request, runtime: RuntimeDep) -> Any:
    person = await _web_owner(slug, request, runtime)
    if person is None:
        return {"enabled": True, "share": False, "memories": []}
    return await _listing(runtime.memory, person, slug)


@router.put("/web/personas/{slug}/memory/settings")
async def web_memory_settings(
    slug: str, body: MemoryChoice, request: Request, response: Response, runtime: RuntimeDep
) -> Any:
    """Also before a first message (memory off from the start): the person is made here,
    with their cookie, as opening the chat does."""
    await _web_owner(slug, request, runtime)  # 404 for a persona the web chat cannot open
    cookie, new = web_cookie(request)
    remember_cookie(request, response, cookie, new)
    ref = await runtime.store.open_conversation(slug, PersonRef(WEB_CHANNEL, cookie))
    return await _choose(runtime.memory, ref.person_id, slug, body)


@router.put("/web/personas/{slug}/memory/{memory_id}")
async def web_correct_memory(
    slug: str, memory_id: int, body: Correction, request: Request, runtime: RuntimeDep
) -> Any:
    person = await _web_owner(slug, request, runtime)
    if person is None:
        raise MemoryNotFound(memory_id)
    return await _correct(runtime.memory, person, slug, memory_id, body.text)


@router.delete("/web/personas/{slug}/memory/{memory_id}", status_code=204)
async def web_forget_memory(
    slug: str, memory_id: int, request: Request, runtime: RuntimeDep
) -> Response:
    person = await _web_owner(slug, request, runtime)
    if person is None:
        raise MemoryNotFound(memory_id)
    await _forget(runtime.memory, person, slug, memory_id)
    return Response(status_code=204)


@router.delete("/web/personas/{slug}/memory")
async def web_forget_all(slug: str, request: Request, runtime: RuntimeDep) -> Any:
    person = await _web_owner(slug, request, runtime)
    if person is None:
        return {"deleted": 0}
    return {"deleted": await runtime.memory.store.forget_all(person, slug)}
