"""Core types -> JSON bodies for the native API and the web chat (the wire shapes live here)."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder

from personae.server.identity import split_channel
from personae.types import (
    ConversationRef,
    ConversationSummary,
    OutboxEntry,
    Persona,
    PersonaRecord,
    StoredMessage,
    TurnFinished,
    TurnStarted,
)


def persona_record_json(record: PersonaRecord) -> dict[str, Any]:
    return {
        "persona": record.persona.model_dump(mode="json"),
        "revision": record.revision,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        "published_revision": record.published_revision,
        "latest_revision": record.latest_revision,
        "status": record.status,
    }


def persona_card(persona: Persona) -> dict[str, Any]:
    """What a picker shows: name, tagline, avatar URL (if any) and the greeting."""
    return {
        "id": persona.id,
        "name": persona.name,
        "tagline": persona.tagline,
        "greeting": persona.greeting,
        "avatar_url": _avatar_url(persona),
        "video_replies": persona.video_replies,  # the web chat looks for video replies
        "voice_replies": persona.voice_replies,  # and for spoken ones
    }


def _avatar_url(persona: Persona) -> str | None:
    if not persona.avatar:
        return None
    if persona.avatar.startswith("data:image/"):
        return persona.avatar
    # Files and URLs alike go through the avatar route, which serves only allowed ones.
    return f"/web/personas/{persona.id}/avatar"


def conversation_json(ref: ConversationRef) -> dict[str, Any]:
    """`channel` as clients name it, and the API client whose person it is (None: a
    channel's own person, e.g. the web chat's)."""
    channel, client = split_channel(ref.channel)
    return {
        "id": ref.id,
        "persona": ref.persona_id,
        "person_id": ref.person_id,
        "channel": channel,
        "client": client,
    }


def conversation_summary_json(summary: ConversationSummary) -> dict[str, Any]:
    body: dict[str, Any] = jsonable_encoder(summary)
    body["channel"], body["client"] = split_channel(summary.channel)
    return body


def message_json(message: StoredMessage) -> dict[str, Any]:
    body: dict[str, Any] = jsonable_encoder(message)
    return body


def turn_result_json(
    started: TurnStarted | None, finished: TurnFinished, text: str
) -> dict[str, Any]:
    """The person's message (as stored), the reply and the turn's trace."""
    inbound = started.inbound_message_id if started else None
    reply: dict[str, Any] = (
        message_json(finished.reply)
        if finished.reply is not None
        else {"role": "assistant", "content": finished.text}
    )
    return {
        "message": {"id": inbound, "role": "user", "content": text},
        "reply": reply,
        "finish_reason": finished.finish_reason,
        "replayed": finished.replayed,
        "trace": jsonable_encoder(finished.trace),
    }


def delivery_json(entry: OutboxEntry) -> dict[str, Any]:
    """One part of a reply on its way to a channel: its state, attempts, errors and times."""
    body: dict[str, Any] = jsonable_encoder(entry)
    body.pop("text")  # the reply's text is in its message; a part is a slice of it
    body.pop("conversation_id")
    return body
