"""Rows to frozen types and back: persona specs and traces travel as JSON text."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import Row

from personae.types import (
    ContextNote,
    ConversationRef,
    ConversationSummary,
    Persona,
    PersonaRecord,
    PromptSection,
    StoredMessage,
    Timings,
    Trace,
    TurnRecord,
    Usage,
    Verdict,
)


def persona_to_json(persona: Persona) -> str:
    """Canonical JSON (sorted keys) so an unchanged spec compares equal as text."""
    return json.dumps(persona.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


# Parsed specs by their text: every turn reads its persona, and a persona with a large lorebook
# takes tens of milliseconds to parse. Personas are frozen, so sharing one object is safe.
_PARSED: OrderedDict[str, Persona] = OrderedDict()
PARSED_CACHE = 32


_PARSED_LOCK = threading.Lock()  # store operations run in several threads


def persona_from_json(spec: str) -> Persona:
    with _PARSED_LOCK:
        found = _PARSED.get(spec)
        if found is not None:
            _PARSED.move_to_end(spec)
            return found
    persona = Persona.model_validate_json(spec)
    with _PARSED_LOCK:
        _PARSED[spec] = persona
        if len(_PARSED) > PARSED_CACHE:
            _PARSED.popitem(last=False)
    return persona


def trace_to_json(trace: Trace) -> str:
    return json.dumps(dataclasses.asdict(trace), ensure_ascii=False)


def trace_from_json(text: str) -> Trace:
    data: dict[str, Any] = json.loads(text)
    return Trace(
        engine=data["engine"],
        model=data["model"],
        budget=data["budget"],
        sections=tuple(PromptSection(**section) for section in data["sections"]),
        dropped_message_ids=tuple(data["dropped_message_ids"]),
        dropped_tokens=data["dropped_tokens"],
        timings=Timings(**data["timings"]),
        usage=Usage(**data["usage"]),
        finish_reason=data.get("finish_reason"),
        error=data.get("error"),
        cut=data.get("cut"),
        context=tuple(_note(note) for note in data.get("context", ())),
        verdicts=tuple(_verdict(v) for v in data.get("verdicts", ())),
        status=data.get("status", "failed" if data.get("error") else "ok"),
        guard_ms=data.get("guard_ms", 0.0),
    )


def _verdict(data: dict[str, Any]) -> Verdict:
    return Verdict(
        **{
            **data,
            "categories": tuple(data.get("categories", ())),
            "scores": tuple((str(k), float(v)) for k, v in data.get("scores", ())),
        }
    )


def _note(data: dict[str, Any]) -> ContextNote:
    reasons = tuple((str(ref), str(why)) for ref, why in data.get("reasons", ()))
    return ContextNote(data["source"], data["outcome"], data["tokens"], reasons)


def persona_record(row: Row[Any]) -> PersonaRecord:
    """From a personas ⨝ persona_revisions row: the revision's time is the record's update."""
    return PersonaRecord(
        persona=persona_from_json(row.spec),
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.revision_created_at,
        published_revision=row.published_revision,
        latest_revision=row.current_revision,
    )


def conversation_ref(row: Row[Any]) -> ConversationRef:
    return ConversationRef(
        id=row.id, persona_id=row.persona_slug, person_id=row.person_id, channel=row.channel
    )


def conversation_summary(row: Row[Any]) -> ConversationSummary:
    return ConversationSummary(
        id=row.id,
        persona_id=row.persona_slug,
        person_id=row.person_id,
        channel=row.channel,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=row.message_count,
    )


def stored_message(row: Row[Any], prefix: str = "") -> StoredMessage:
    """A message from a row; ``prefix`` picks aliased columns (``reply_id``, ``reply_role``…)."""
    mapping = row._mapping
    return StoredMessage(
        id=mapping[f"{prefix}id"],
        conversation_id=mapping[f"{prefix}conversation_id"],
        role=mapping[f"{prefix}role"],
        content=mapping[f"{prefix}content"],
        created_at=mapping[f"{prefix}created_at"],
        external_id=mapping[f"{prefix}external_id"],
        persona_revision=mapping[f"{prefix}persona_revision"],
    )


def turn_record(row: Row[Any]) -> TurnRecord:
    return TurnRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        inbound_message_id=row.inbound_message_id,
        reply_message_id=row.reply_message_id,
        persona_revision=row.persona_revision,
        status=row.status,
        trace=trace_from_json(row.trace) if row.trace is not None else None,
        created_at=row.created_at,
    )
