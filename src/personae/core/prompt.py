"""Prompt assembly within a token budget.

The prompt is laid out so that everything that depends only on the persona comes first and is
byte-identical for every person and every turn (the engine's prefix cache then skips it):

    [system: persona card] [example turns] [assistant: greeting]   <- persona prefix, shared
    [system: caller instructions]                     <- per call, optional
    [history, oldest first]                           <- dropped oldest-first, whole messages
    [user: the new message]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from personae.contracts import Engine
from personae.errors import BadRequest
from personae.types import ChatMessage, Persona, PromptSection

# When the fixed prompt leaves fewer reply tokens than this (and than asked for), the turn is
# refused rather than answered with a stub.
MIN_REPLY_TOKENS = 16


def render_persona(persona: Persona) -> str:
    """The persona's system prompt: a pure function of the persona, so the prefix never drifts."""
    parts = [f"You are {persona.name}."]
    if persona.tagline:
        parts.append(persona.tagline)
    for label, text in (
        ("About you", persona.description),
        ("Personality", persona.personality),
        ("Scenario", persona.scenario),
    ):
        if text.strip():
            parts.append(f"{label}: {text.strip()}")
    if persona.style.do:
        parts.append("Always:\n" + "\n".join(f"- {rule}" for rule in persona.style.do))
    if persona.style.dont:
        parts.append("Never:\n" + "\n".join(f"- {rule}" for rule in persona.style.dont))
    if persona.boundaries:
        topics = "\n".join(f"- {topic}" for topic in persona.boundaries)
        parts.append(f"Politely decline these topics and suggest a better source:\n{topics}")
    parts.append(
        f"Stay in character as {persona.name}. Reply only as {persona.name}, in a few sentences, "
        "to the person's latest message; never write the person's lines."
    )
    return "\n\n".join(parts)


def example_turns(persona: Persona) -> list[ChatMessage]:
    """Example dialogues as real chat turns (a script of "User: / Name:" lines teaches a small
    model to write both sides), each opened by a short system marker."""
    turns: list[ChatMessage] = []
    for number, dialogue in enumerate(persona.example_dialogues, start=1):
        turns.append(ChatMessage("system", f"Example conversation {number} of {persona.name}:"))
        for exchange in dialogue:
            turns.append(ChatMessage("user", exchange.user))
            turns.append(ChatMessage("assistant", exchange.persona))
    if turns:
        turns.append(ChatMessage("system", "The real conversation starts now."))
    return turns


def persona_prefix(persona: Persona) -> tuple[ChatMessage, ...]:
    return (
        ChatMessage("system", render_persona(persona)),
        *example_turns(persona),
        ChatMessage("assistant", persona.greeting),
    )


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """A prior message and its store id (None for messages the caller sent, stateless turns)."""

    message: ChatMessage
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class AssembledPrompt:
    messages: tuple[ChatMessage, ...]
    sections: tuple[PromptSection, ...]
    dropped_message_ids: tuple[int, ...]
    dropped_tokens: int
    budget: int
    max_tokens: int


@dataclass(frozen=True, slots=True)
class FixedParts:
    """The parts every prompt of this turn keeps, counted: prefix, instructions, the message."""

    head: tuple[ChatMessage, ...]
    prefix_len: int
    message: ChatMessage
    head_tokens: tuple[int, ...]
    message_tokens: int


async def count_fixed(
    engine: Engine, prefix: Sequence[ChatMessage], instructions: str, text: str
) -> FixedParts:
    """Count what the turn cannot drop; needs no history, so it can run while history loads."""
    head = list(prefix)
    if instructions.strip():
        head.append(ChatMessage("system", instructions.strip()))
    message = ChatMessage("user", text)
    counts = await engine.count_tokens([*head, message])
    return FixedParts(tuple(head), len(prefix), message, tuple(counts[:-1]), counts[-1])


async def fit_history(
    engine: Engine,
    fixed: FixedParts,
    history: Sequence[HistoryItem],
    budget: int,
    max_tokens: int,
) -> AssembledPrompt:
    """Add as much recent history as the budget allows around the fixed parts.

    ``budget`` covers prompt and reply; the reply keeps ``max_tokens`` of it, shrunk only when
    the fixed parts leave less (and refused below MIN_REPLY_TOKENS).
    """
    history_counts = (
        await engine.count_tokens([item.message for item in history]) if history else []
    )
    fixed_tokens = sum(fixed.head_tokens) + fixed.message_tokens
    left_for_reply = budget - fixed_tokens
    if left_for_reply < min(max_tokens, MIN_REPLY_TOKENS):
        raise BadRequest(
            f"the persona prompt and the message need {fixed_tokens} tokens, leaving "
            f"{left_for_reply} of the {budget}-token budget for the reply; "
            "send a shorter message, shorten the persona, or raise its model.context_budget"
        )
    reply_tokens = min(max_tokens, left_for_reply)
    room = budget - reply_tokens - fixed_tokens
    first_kept = len(history) - _newest_that_fit(history_counts, room)
    kept_items = history[first_kept:]

    sections = [
        PromptSection("persona", sum(fixed.head_tokens[: fixed.prefix_len]), fixed.prefix_len)
    ]
    if len(fixed.head) > fixed.prefix_len:
        sections.append(PromptSection("instructions", fixed.head_tokens[-1], 1))
    sections.append(PromptSection("history", sum(history_counts[first_kept:]), len(kept_items)))
    sections.append(PromptSection("message", fixed.message_tokens, 1))
    return AssembledPrompt(
        messages=(*fixed.head, *(item.message for item in kept_items), fixed.message),
        sections=tuple(sections),
        dropped_message_ids=tuple(
            i.message_id for i in history[:first_kept] if i.message_id is not None
        ),
        dropped_tokens=sum(history_counts[:first_kept]),
        budget=budget,
        max_tokens=reply_tokens,
    )


def _newest_that_fit(counts: Sequence[int], room: int) -> int:
    """How many messages from the end of ``counts`` fit in ``room`` tokens (whole messages)."""
    used = 0
    kept = 0
    for tokens in reversed(counts):
        if used + tokens > room:
            break
        used += tokens
        kept += 1
    return kept
