"""The OpenAI-compatible API under /v1: every published persona is a model."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from personae.errors import PersonaeError, PersonaNotFound, TooManyMessages
from personae.server.abuse import admit
from personae.server.deps import RuntimeDep, V1CallerDep, require_api_key
from personae.server.errors import sse_error_payload
from personae.server.identity import ADMIN_CLIENT, api_person, header_user
from personae.server.media_input import image_parts
from personae.server.openai_audio import audio_output, hear_parts, spoken_message
from personae.server.openai_schema import (
    OPENAI_CHANNEL,
    ChatCompletionRequest,
    ChunkMaker,
    completion_id,
    completion_json,
    image_refs,
    to_turn_input,
)
from personae.server.sse import Primed, collect, encode, prime, sse_response
from personae.types import PersonaRecord, ReplyGuarded, TextDelta, TurnFinished

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(require_api_key)])


def _model_json(record: PersonaRecord) -> dict[str, Any]:
    return {
        "id": record.persona.id,
        "object": "model",
        "created": int(record.created_at.timestamp()),
        "owned_by": "personae",
    }


@router.get("/models")
async def list_models(runtime: RuntimeDep) -> dict[str, Any]:
    records = await runtime.store.list_personas(include_unpublished=False)
    return {"object": "list", "data": [_model_json(r) for r in records]}


@router.get("/models/{model_id}")
async def get_model(model_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    record = await runtime.store.get_persona(model_id)
    if not record.persona.published:
        raise PersonaNotFound(model_id)
    return _model_json(record)


async def refuse_too_many_messages(request: Request, runtime: RuntimeDep) -> None:
    """The message cap, checked before the body is validated: validating 10,000 messages holds
    the event loop for a tenth of a second and more, counting them costs nothing (FastAPI has
    parsed the JSON already and caches it). The turn checks the cap again, for every surface."""
    try:
        data = await request.json()
    except ValueError:
        return  # not JSON: the body's own validation says so
    messages = data.get("messages") if isinstance(data, dict) else None
    if isinstance(messages, list) and len(messages) > runtime.settings.max_messages:
        raise TooManyMessages(len(messages), runtime.settings.max_messages)


@router.post(
    "/chat/completions", response_model=None, dependencies=[Depends(refuse_too_many_messages)]
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, runtime: RuntimeDep, caller: V1CallerDep
) -> dict[str, Any] | Response:
    """With `user` (or the header PERSONAE_OPENAI_USER_HEADER names), the conversation of
    that person of the caller's client (identity.py)."""
    header = runtime.settings.openai_user_header
    named = header_user(header, _raw_header(request, header)) if header else None
    if body.user is None and named is not None:
        body = body.model_copy(update={"user": named})
    body, speak = audio_output(body)
    body = await hear_parts(body, runtime.voice, runtime.settings)
    turn = dataclasses.replace(to_turn_input(body), allow_unpublished=caller == ADMIN_CLIENT)
    if turn.person is not None:
        person = api_person(OPENAI_CHANNEL, caller, turn.person.external_id)
        turn = dataclasses.replace(turn, person=person)
    runtime.turns.check(turn)  # an oversized message is refused before it spends a token
    await admit(runtime, request, turn.person)
    refs = image_refs(body)
    if refs:  # checked only once the caller was admitted: no free work for the over-limit
        turn = dataclasses.replace(turn, media=await image_parts(runtime.settings, refs))
    events = runtime.turns.run(turn)
    logprobs = bool(body.logprobs)
    if not body.stream:
        _, finished = await collect(events)
        answer = completion_json(completion_id(), body.model, finished, logprobs)
        if speak is not None:
            record = await runtime.store.get_persona(turn.persona)
            message = answer["choices"][0]["message"]
            message["audio"] = await spoken_message(
                finished.text, record.persona.voice, speak, runtime.voice
            )
            message["content"] = None  # OpenAI's shape: the words are the audio's transcript
        return answer
    include_usage = body.stream_options is not None and body.stream_options.include_usage
    primed = await prime(events)
    return sse_response(_openai_stream(primed, ChunkMaker(body.model, include_usage), logprobs))


def _raw_header(request: Request, name: str) -> bytes | None:
    """The header's bytes as sent (Starlette's str view would hide bytes that are not UTF-8)."""
    wanted = name.lower().encode("latin-1")
    return next((value for key, value in request.headers.raw if key.lower() == wanted), None)


async def _openai_stream(primed: Primed, maker: ChunkMaker, logprobs: bool) -> AsyncIterator[bytes]:
    yield _data(maker.chunk({"role": "assistant", "content": ""}))
    try:
        async for event in primed.events():
            if isinstance(event, TextDelta):
                shown = event.logprobs if logprobs else None
                yield _data(maker.chunk({"content": event.text}, logprobs=shown))
            elif isinstance(event, ReplyGuarded) and event.status == "blocked":
                # Streamed text cannot be taken back here: the notice follows it, and the
                # finish reason is content_filter (the stored reply is the notice alone).
                yield _data(maker.chunk({"content": f"\n\n{event.text}"}))
            elif isinstance(event, TurnFinished):
                yield _data(maker.chunk({}, event.finish_reason))
                if maker.include_usage:
                    yield _data(maker.usage(event.usage))
    except PersonaeError as exc:
        yield encode(sse_error_payload(exc, openai_shape=True))
        return
    yield encode("[DONE]")


def _data(body: dict[str, Any]) -> bytes:
    return encode(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
