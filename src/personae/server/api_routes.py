"""The native REST API under /api: personas (admin writes) and conversations."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from personae.core.personas import parse_persona_text, validate_persona_data
from personae.errors import ConversationNotFound, PersonaNotFound
from personae.server.abuse import admit
from personae.server.deps import (
    ApiClientDep,
    MaybeStaffDep,
    RuntimeDep,
    StaffDep,
    require_api_key,
)
from personae.server.errors import FieldError
from personae.server.identity import (
    ADMIN_CLIENT,
    API_CHANNELS,
    LOCAL_CLIENT,
    api_person,
    belongs_to,
)
from personae.server.openapi import PERSONA_REF
from personae.server.sse import collect, native_stream, prime, sse_response
from personae.server.wire import (
    conversation_json,
    conversation_summary_json,
    delivery_json,
    message_json,
    persona_record_json,
    turn_result_json,
)
from personae.types import Persona, PersonRef, TurnFinished, TurnInput, TurnStarted

router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(require_api_key)])
MAX_OFFSET = 1_000_000_000  # far past any real list, well inside SQL's 64-bit integers
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
_PERSONA_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PERSONA_REF},
            "application/yaml": {"schema": {"type": "string"}},
        },
    },
    "responses": {"422": {"description": "The persona failed validation"}},
}


async def _persona_from_body(request: Request) -> Persona:
    """JSON by default, YAML when the content type says so; validated like a persona file."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError("body", "request body is not UTF-8 text; send JSON or YAML") from None
    if content_type in YAML_TYPES:
        return parse_persona_text(text, "request body", "yaml")
    try:
        data = json.loads(text)
    except RecursionError:
        raise FieldError(
            "body", "request body is nested too deeply to read; flatten the data"
        ) from None
    except json.JSONDecodeError as err:
        raise FieldError(
            "body",
            f"request body is not valid JSON ({err.msg} at line {err.lineno}, column "
            f"{err.colno}); send a persona as JSON, or as YAML with Content-Type: "
            "application/yaml",
        ) from None
    return validate_persona_data(data, "request body")


# ---------------------------------------------------------------- personas


@router.get("/personas")
async def list_personas(runtime: RuntimeDep, staff: MaybeStaffDep) -> Any:
    """Published personas; with an admin token every unpublished one too, with a creator
    token their own."""
    records = await runtime.store.list_personas(include_unpublished=staff is not None)
    shown = [r for r in records if r.persona.published or (staff and staff.may_touch(r.persona.id))]
    return {"personas": [persona_record_json(r) for r in shown]}


@router.get("/personas/{slug}")
async def get_persona(slug: str, runtime: RuntimeDep, staff: MaybeStaffDep) -> Any:
    record = await runtime.store.get_persona(slug)
    if not record.persona.published and not (staff and staff.may_touch(slug)):
        raise PersonaNotFound(slug)
    return persona_record_json(record)


@router.post("/personas", status_code=201, openapi_extra=_PERSONA_BODY)
async def create_persona(request: Request, runtime: RuntimeDep, staff: StaffDep) -> Any:
    persona = await _persona_from_body(request)
    staff.require_persona(persona.id)
    runtime.check_avatar(persona, "request body")
    runtime.check_impersonation(persona, "request body")
    if await runtime.store.has_persona(persona.id):
        raise FieldError(
            "id",
            f"persona {persona.id!r} already exists; change it with PUT /api/personas/{persona.id}",
        )
    record = await runtime.store.put_persona(persona)
    return persona_record_json(record)


@router.put("/personas/{slug}", openapi_extra=_PERSONA_BODY)
async def update_persona(slug: str, request: Request, runtime: RuntimeDep, staff: StaffDep) -> Any:
    staff.require_persona(slug)
    persona = await _persona_from_body(request)
    runtime.check_avatar(persona, "request body")
    runtime.check_impersonation(persona, "request body")
    if persona.id != slug:
        raise FieldError(
            "id",
            f"the body's id {persona.id!r} does not match {slug!r} in the path; make them equal",
        )
    if not await runtime.store.has_persona(slug):
        raise PersonaNotFound(slug)
    record = await runtime.store.put_persona(persona)
    return persona_record_json(record)


@router.delete("/personas/{slug}")
async def delete_persona(slug: str, runtime: RuntimeDep, staff: StaffDep) -> Any:
    staff.require_persona(slug)
    await runtime.store.delete_persona(slug)
    return {"id": slug, "deleted": True}


@router.get("/personas/{slug}/revisions")
async def persona_revisions(slug: str, runtime: RuntimeDep, staff: StaffDep) -> Any:
    staff.require_persona(slug)
    records = await runtime.store.persona_revisions(slug)
    return {"revisions": [persona_record_json(r) for r in records]}


@router.get("/personas/{slug}/safety")
async def persona_safety(slug: str, runtime: RuntimeDep, staff: StaffDep) -> Any:
    """The persona's safety incidents: turns by status (crisis, refused, blocked, rewritten),
    counts only, never message content."""
    staff.require_persona(slug)
    await runtime.store.get_persona(slug)  # 404 for a persona that does not exist
    return {"id": slug, "turns": await runtime.store.safety_counts(slug)}


# ---------------------------------------------------------------- conversations


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    persona: str = Field(description="Persona id")
    user: str = Field(
        min_length=1, max_length=255, description="Your id for the person (yours alone: "
        "another API key's same id is another person)",
    )  # fmt: skip
    channel: str = Field(
        "api", min_length=1, max_length=64,
        description="'api', or 'openai' for the people your key talks to on /v1",
    )  # fmt: skip


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    external_id: str | None = Field(
        None, max_length=255, description="Your id for this message: a retry is not stored twice"
    )


@router.get("/conversations")
async def list_conversations(
    runtime: RuntimeDep,
    staff: StaffDep,
    persona: str | None = None,
    person: str | None = Query(None, description="A person id"),
    user: str | None = Query(None, description="A person's id on `channel` (instead of person)"),
    channel: str = "api",
    client: str | None = Query(None, description="With `user` on api/openai: the API client"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Any:
    """Admins: any; creators: name one of their personas with `persona`."""
    if not staff.is_admin:
        if persona is None:
            raise FieldError(
                "persona",
                "a creator token lists conversations of one persona at a time: add "
                f"persona=<slug> (one of {', '.join(sorted(staff.personas)) or 'none'})",
            )
        staff.require_persona(persona)
    if user is not None:
        person = await runtime.store.find_person(_listed_person(channel, client, user))
        if person is None:
            return {"conversations": []}
    found = await runtime.store.list_conversations(persona, person, limit, offset)
    return {"conversations": [conversation_summary_json(c) for c in found]}


def _listed_person(channel: str, client: str | None, user: str) -> PersonRef:
    if channel not in API_CHANNELS:
        return PersonRef(channel, user)
    if client is None:
        raise FieldError(
            "client",
            f"user {user!r} on channel {channel!r} is a person of one API client: name it "
            f"with client=<name> (an API key's name, {ADMIN_CLIENT!r} or {LOCAL_CLIENT!r})",
        )
    return api_person(channel, client, user)


@router.get("/conversations/{conversation_id}")
async def get_conversation(conversation_id: str, runtime: RuntimeDep, staff: StaffDep) -> Any:
    ref = await runtime.store.get_conversation(conversation_id)
    if not staff.may_touch(ref.persona_id):  # another creator's: as if it did not exist
        raise ConversationNotFound(conversation_id)
    messages = await runtime.store.conversation_messages(conversation_id)
    turns = await runtime.store.conversation_turns(conversation_id)
    deliveries = await runtime.deliveries.entries(conversation_id)
    return {
        "conversation": conversation_json(ref),
        "messages": [message_json(m) for m in messages],
        "turns": jsonable_encoder(turns),
        # Channel replies: each part's outbox entry (status, attempts, errors, platform id).
        "deliveries": [delivery_json(d) for d in deliveries],
    }


@router.post("/conversations", status_code=201)
async def open_conversation(
    body: NewConversation, runtime: RuntimeDep, client: ApiClientDep
) -> Any:
    """Needs an API key or the admin token; the person is one of that client's own."""
    person = api_person(body.channel, client, body.user)
    record = await runtime.store.get_persona(body.persona)
    if not record.persona.published and client != ADMIN_CLIENT:
        raise PersonaNotFound(body.persona)
    ref = await runtime.store.open_conversation(body.persona, person)
    return conversation_json(ref)


async def _turn_for(
    conversation_id: str, body: NewMessage, runtime: RuntimeDep, client: str, request: Request
) -> TurnInput:
    ref = await runtime.store.get_conversation(conversation_id)
    if not belongs_to(ref, client):  # another client's (or channel's): as if it did not exist
        raise ConversationNotFound(conversation_id)
    person = await runtime.store.person_ref(ref.person_id, ref.channel)
    turn = TurnInput(
        ref.persona_id,
        body.text,
        person=person,
        external_id=body.external_id,
        allow_unpublished=client == ADMIN_CLIENT,
    )
    runtime.turns.check(turn)  # an oversized message is refused before it spends a token
    await admit(runtime, request, person)
    return turn


@router.post("/conversations/{conversation_id}/messages")
async def send_message(
    conversation_id: str,
    body: NewMessage,
    request: Request,
    runtime: RuntimeDep,
    client: ApiClientDep,
) -> Any:
    """Only into a conversation of the caller's client; any other is 404."""
    turn = await _turn_for(conversation_id, body, runtime, client, request)
    started, finished = await collect(runtime.turns.run(turn))
    return turn_result_json(started, finished, body.text)


@router.post(
    "/conversations/{conversation_id}/messages/stream",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_message(
    conversation_id: str,
    body: NewMessage,
    request: Request,
    runtime: RuntimeDep,
    client: ApiClientDep,
) -> Response:
    """Server-sent events: `delta` {"text"}*, then `done` {message, reply, trace} or `error`."""
    turn = await _turn_for(conversation_id, body, runtime, client, request)
    primed = await prime(runtime.turns.run(turn))

    def done(started: TurnStarted | None, finished: TurnFinished) -> dict[str, Any]:
        return turn_result_json(started, finished, body.text)

    return sse_response(native_stream(primed, done))
