"""The engine extractor: a capable model reads the person's message and answers with the
durable facts in it, as JSON (a persona opts in with ``memory: {extractor: engine}``).

The answer is asked for with a JSON schema where the engine supports structured output, and
read leniently otherwise (the first JSON object in the reply). Each fact must be short text;
a slot, when given, is a lower-case key ("home", "name_of:sister") so that a later fact in it
retires this one, exactly as the offline extractor's slots do. An answer that is not usable
returns None and the caller falls back to the offline extractor: a weak model never loses
the facts the patterns would have kept.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from personae.contracts import Engine
from personae.errors import EngineError, EngineUnavailable, Unsupported
from personae.types import ChatMessage, GenerationRequest, ResponseFormat
from personae.types.memory import NewMemory

log = logging.getLogger(__name__)
MAX_FACTS = 8
MAX_FACT_CHARS = 300
MAX_REPLY_TOKENS = 400
_SLOT = re.compile(r"[a-z][a-z0-9_]{0,40}(?::[a-z0-9_ ]{1,40})?")
SCHEMA = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "maxItems": MAX_FACTS,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "slot": {"type": "string"},
                    "importance": {"type": "number"},
                },
                "required": ["text"],
            },
        }
    },
    "required": ["facts"],
}
INSTRUCTIONS = (
    "You keep a persona's long-term memory of the person it talks to. Read the person's "
    "message and list the durable facts it states about the person: names of people and pets, "
    "where they live, work, preferences, allergies, relationships, dates, plans, and "
    "corrections of earlier facts. Write each fact in the third person ('They live in "
    "Porto'). Give a slot for facts that replace earlier ones (home, job, name, "
    "name_of:sister, allergy, favorite:food) and an importance from 0 to 1. Small talk and "
    'questions hold no facts. Answer with JSON only: {"facts": [{"text": ..., "slot": ..., '
    '"importance": ...}]}.'
)


async def extract_with_engine(
    engine: Engine, model: str | None, text: str
) -> list[NewMemory] | None:
    """The facts the engine finds in ``text``; None when its answer is unusable."""
    messages = (ChatMessage("system", INSTRUCTIONS), ChatMessage("user", text))
    structured = ResponseFormat("json_schema", json.dumps(SCHEMA), "memory_facts")
    for response_format in (structured, None):
        request = GenerationRequest(
            messages=messages, max_tokens=MAX_REPLY_TOKENS, temperature=0.0, top_p=1.0,
            model=model, response_format=response_format,
        )  # fmt: skip
        try:
            reply = "".join([chunk.text async for chunk in engine.generate(request)])
        except Unsupported:
            continue  # no structured output here: ask again, read the reply leniently
        except (EngineError, EngineUnavailable) as exc:
            log.warning("memory extraction by the engine failed: %s", exc)
            return None
        return parse_facts(reply)
    return None


def parse_facts(reply: str) -> list[NewMemory] | None:
    """The facts of an answer (the first JSON object in it), or None if there is none."""
    start = reply.find("{")
    if start < 0:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(reply[start:])
    except ValueError:
        return None
    facts = data.get("facts") if isinstance(data, dict) else None
    if not isinstance(facts, list):
        return None
    found: list[NewMemory] = []
    for item in facts[:MAX_FACTS]:
        fact = _fact(item)
        if fact is not None:
            found.append(fact)
    return found


def _fact(item: Any) -> NewMemory | None:
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        return None
    text = " ".join(item["text"].split())[:MAX_FACT_CHARS]
    if not text:
        return None
    slot = item.get("slot")
    key = slot.strip().lower() if isinstance(slot, str) else None
    if key is not None and not _SLOT.fullmatch(key):
        key = None
    importance = item.get("importance")
    weight = float(importance) if isinstance(importance, int | float) else 0.7
    return NewMemory("fact", text, key, min(max(weight, 0.0), 1.0))
