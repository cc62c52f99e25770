"""Prompt assembly within a token budget: the persona prefix, then the context blocks of the
turn's sources (lore, memory, knowledge, the history) fitted by priority.

The prompt is laid out so that everything that depends only on the persona comes first and is
byte-identical for every person and every turn (the engine's prefix cache then skips it):

    [system: persona card] [example turns] [assistant: greeting]   <- persona prefix, shared
    [blocks "before_persona", then "after_persona"]   <- per turn, from the sources
    [system: caller instructions]                     <- per call, optional
    [history, oldest first, "in_history" blocks at their depth]
    [user: the new message]

Droppable blocks are kept by priority (the history's newest messages first); once one block of
a source does not fit, the source's lower-priority blocks are dropped too, so the history loses
whole messages oldest-first and never has a gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from personae.contracts import ContextSource, Engine
from personae.core.seeing import IMAGE_TOKENS
from personae.core.template import apply_macros, example_turns, render_persona
from personae.errors import BadRequest
from personae.types import (
    HISTORY_SOURCE,
    ChatMessage,
    ContextBlock,
    ContextNote,
    ContextRequest,
    HistoryItem,
    ImagePart,
    Outcome,
    Persona,
    PromptSection,
)

# When the fixed prompt leaves fewer reply tokens than this (and than asked for), the turn is
# refused rather than answered with a stub.
MIN_REPLY_TOKENS = 16
# Messages counted per step when the engine's template adds no tokens around a message (so
# nothing bounds how many could fit): keeps each tokenizer request small.
UNBOUNDED_STEP = 256


def persona_prefix(persona: Persona) -> tuple[ChatMessage, ...]:
    return (
        ChatMessage("system", render_persona(persona)),
        *example_turns(persona),
        ChatMessage("assistant", apply_macros(persona.greeting, persona)),
    )


@dataclass(frozen=True, slots=True)
class AssembledPrompt:
    messages: tuple[ChatMessage, ...]
    sections: tuple[PromptSection, ...]
    dropped_message_ids: tuple[int, ...]
    dropped_tokens: int
    budget: int
    max_tokens: int
    context: tuple[ContextNote, ...] = ()


@dataclass(frozen=True, slots=True)
class FixedParts:
    """The parts every prompt of this turn keeps, counted: prefix, instructions, the message."""

    head: tuple[ChatMessage, ...]
    prefix_len: int
    message: ChatMessage
    head_tokens: tuple[int, ...]
    message_tokens: int


async def count_fixed(
    engine: Engine,
    prefix: Sequence[ChatMessage],
    instructions: str,
    text: str,
    images: Sequence[ImagePart] = (),
) -> FixedParts:
    """Count what the turn cannot drop; needs no history, so it can run while history loads.
    ``images`` ride on the person's message (only for an engine that sees them), each
    counted as IMAGE_TOKENS."""
    head = list(prefix)
    if instructions.strip():
        head.append(ChatMessage("system", instructions.strip()))
    message = ChatMessage("user", text)
    counts = await engine.count_tokens([*head, message])
    if images:
        message = ChatMessage("user", text, tuple(images))
    extra = IMAGE_TOKENS * len(images)
    return FixedParts(tuple(head), len(prefix), message, tuple(counts[:-1]), counts[-1] + extra)


# ---------------------------------------------------------------- sources


class HistorySource:
    """The conversation's own messages as blocks: message N from the end has depth N and
    priority -N, so newer messages are kept first and any block with priority >= 0 before them."""

    name = HISTORY_SOURCE

    async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
        return history_blocks(turn.history)


class PostHistorySource:
    """The persona's ``post_history_instructions`` (a card's "jailbreak" slot), after the
    conversation every turn; required, so it is never dropped for history."""

    name = "post_history"

    async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
        text = apply_macros(turn.persona.post_history_instructions.strip(), turn.persona)
        if not text:
            return ()
        reason = (("persona:post_history_instructions", "the persona's instructions"),)
        return (ContextBlock(text, self.name, position="in_history", depth=0, droppable=False,
                             priority=1000, reasons=reason),)  # fmt: skip


def history_blocks(history: Sequence[HistoryItem]) -> list[ContextBlock]:
    count = len(history)
    return [
        ContextBlock(
            text=item.message.content,
            source=HISTORY_SOURCE,
            role=item.message.role,
            position="in_history",
            depth=count - index,
            priority=index - count,
            reasons=(
                ((f"message:{item.message_id}", "history"),) if item.message_id is not None else ()
            ),
        )
        for index, item in enumerate(history)
    ]


async def gather_blocks(
    sources: Sequence[ContextSource], turn: ContextRequest
) -> tuple[ContextBlock, ...]:
    """Every source's blocks, asked concurrently; in source order, each source's own order."""
    results = await asyncio.gather(*(source.blocks(turn) for source in sources))
    return tuple(block for blocks in results for block in blocks)


# ---------------------------------------------------------------- fitting


async def fit_history(
    engine: Engine,
    fixed: FixedParts,
    history: Sequence[HistoryItem],
    budget: int,
    max_tokens: int,
) -> AssembledPrompt:
    """``fit_context`` with the history as the only source."""
    return await fit_context(engine, fixed, history_blocks(history), budget, max_tokens)


async def fit_context(
    engine: Engine,
    fixed: FixedParts,
    blocks: Sequence[ContextBlock],
    budget: int,
    max_tokens: int,
) -> AssembledPrompt:
    """Add as many blocks as the budget allows around the fixed parts, by priority.

    ``budget`` covers prompt and reply; the reply keeps ``max_tokens`` of it, shrunk only when
    the fixed parts and the non-droppable blocks leave less (and refused below
    MIN_REPLY_TOKENS). Blocks are counted in priority order and only while they can still fit,
    so a long history costs no more than the budget.
    """
    notes = [b for b in blocks if not b.text]
    present = [b for b in blocks if b.text]
    required = [i for i, b in enumerate(present) if not b.droppable]
    counts: dict[int, int] = {}
    if required:
        got = await engine.count_tokens([*fixed.head, *(_message(present[i]) for i in required)])
        counts.update(zip(required, got[len(fixed.head) :], strict=True))
    fixed_tokens = sum(fixed.head_tokens) + fixed.message_tokens + sum(counts.values())
    left_for_reply = budget - fixed_tokens
    if left_for_reply < min(max_tokens, MIN_REPLY_TOKENS):
        raise BadRequest(
            f"the persona prompt, its required context and the message need {fixed_tokens} "
            f"tokens, leaving {left_for_reply} of the {budget}-token budget for the reply; "
            "send a shorter message, shorten the persona, or raise its model.context_budget"
        )
    reply_tokens = min(max_tokens, left_for_reply)
    room = budget - reply_tokens - fixed_tokens
    optional = sorted(
        (i for i, b in enumerate(present) if b.droppable), key=lambda i: -present[i].priority
    )
    fit = await _fit_by_priority(engine, fixed.head, present, optional, room)
    counts.update(fit.counts)
    kept = sorted([*required, *fit.kept])
    return AssembledPrompt(
        messages=_layout(fixed, [present[i] for i in kept]),
        sections=_sections(fixed, present, kept, counts),
        dropped_message_ids=tuple(
            ref for ref in (_message_id(present[i]) for i in sorted(fit.dropped)) if ref is not None
        ),
        # Exact for dropped blocks that were counted; blocks that could never fit are not sent
        # to a tokenizer, so theirs is an estimate (see estimate_message_tokens).
        dropped_tokens=sum(
            counts.get(i, estimate_message_tokens(_message(present[i]), fit.floor))
            for i in fit.dropped
        ),
        budget=budget,
        max_tokens=reply_tokens,
        context=_notes(present, kept, fit.dropped, counts, notes),
    )


@dataclass(frozen=True, slots=True)
class _Fit:
    kept: tuple[int, ...]  # indexes of the kept blocks
    dropped: tuple[int, ...]  # indexes of the dropped blocks
    counts: dict[int, int]  # tokens of every counted block
    floor: int  # the fewest tokens any message costs (the template's wrapping)


async def _fit_by_priority(
    engine: Engine,
    head: Sequence[ChatMessage],
    blocks: Sequence[ContextBlock],
    order: Sequence[int],
    room: int,
) -> _Fit:
    """Count blocks in ``order``, in steps of as many as could still fit; a block that does not
    fit ends its source (its later blocks are dropped uncounted when possible)."""
    if not order:
        return _Fit((), (), {}, 0)
    floor = await _least_cost(engine, head)
    kept: list[int] = []
    dropped: list[int] = []
    counts: dict[int, int] = {}
    ended: set[str] = set()
    used, at = 0, 0
    while at < len(order):
        step = min(len(order) - at, (room - used) // floor if floor else UNBOUNDED_STEP)
        if step <= 0:
            break
        batch = [i for i in order[at : at + step] if blocks[i].source not in ended]
        dropped.extend(i for i in order[at : at + step] if blocks[i].source in ended)
        at += step
        if not batch:
            continue
        # Counted behind the head (cached), so each block gets its in-prompt wrapping.
        got = (await engine.count_tokens([*head, *(_message(blocks[i]) for i in batch)]))[
            len(head) :
        ]
        for index, tokens in zip(batch, got, strict=True):
            counts[index] = tokens
            if blocks[index].source in ended or used + tokens > room:
                ended.add(blocks[index].source)
                dropped.append(index)
            else:
                used += tokens
                kept.append(index)
    dropped.extend(order[at:])
    return _Fit(tuple(kept), tuple(dropped), counts, floor)


async def _least_cost(engine: Engine, head: Sequence[ChatMessage]) -> int:
    """Tokens an empty message costs: a lower bound for any (text adds, never removes)."""
    empty = [ChatMessage("user", ""), ChatMessage("assistant", "")]
    return min((await engine.count_tokens([*head, *empty]))[len(head) :])


def _message(block: ContextBlock) -> ChatMessage:
    return ChatMessage(block.role, block.text)


def _message_id(block: ContextBlock) -> int | None:
    if block.source != HISTORY_SOURCE:
        return None
    for ref, _ in block.reasons:
        if ref.startswith("message:"):
            return int(ref.removeprefix("message:"))
    return None


def _layout(fixed: FixedParts, kept: Sequence[ContextBlock]) -> tuple[ChatMessage, ...]:
    """Prefix, the persona-side blocks, instructions, then the history with the blocks placed
    at their depth (a block goes after the history message of the same depth), the message."""
    before = [_message(b) for b in kept if b.position == "before_persona"]
    after = [_message(b) for b in kept if b.position == "after_persona"]
    timeline = [b for b in kept if b.position == "in_history"]
    # Stable sort: deeper first; at one depth the history message, then inserted blocks.
    timeline.sort(key=lambda b: (-b.depth, b.source != HISTORY_SOURCE))
    deep = [_message(b) for b in timeline if b.depth > 0]
    tail = [_message(b) for b in timeline if b.depth <= 0]
    return (
        *fixed.head[: fixed.prefix_len],
        *before,
        *after,
        *fixed.head[fixed.prefix_len :],
        *deep,
        fixed.message,
        *tail,
    )


def _sections(
    fixed: FixedParts, blocks: Sequence[ContextBlock], kept: Sequence[int], counts: dict[int, int]
) -> tuple[PromptSection, ...]:
    sections = [
        PromptSection("persona", sum(fixed.head_tokens[: fixed.prefix_len]), fixed.prefix_len)
    ]
    per_source: dict[str, list[int]] = {}
    for index in kept:
        per_source.setdefault(blocks[index].source, []).append(counts[index])
    for source, tokens in per_source.items():
        if source != HISTORY_SOURCE:
            sections.append(PromptSection(source, sum(tokens), len(tokens)))
    if len(fixed.head) > fixed.prefix_len:
        sections.append(PromptSection("instructions", fixed.head_tokens[-1], 1))
    history = per_source.get(HISTORY_SOURCE, [])
    sections.append(PromptSection("history", sum(history), len(history)))
    sections.append(PromptSection("message", fixed.message_tokens, 1))
    return tuple(sections)


def _notes(
    blocks: Sequence[ContextBlock],
    kept: Sequence[int],
    dropped: Sequence[int],
    counts: dict[int, int],
    notes: Sequence[ContextBlock],
) -> tuple[ContextNote, ...]:
    """The trace's account of every non-history block: chosen, dropped, or a source's note."""
    outcome: dict[int, Outcome] = {i: "chosen" for i in kept}
    outcome.update((i, "dropped") for i in dropped)
    found = [
        ContextNote(block.source, outcome[i], counts.get(i, 0), block.reasons)
        for i, block in enumerate(blocks)
        if block.source != HISTORY_SOURCE and i in outcome
    ]
    found.extend(ContextNote(n.source, "considered", 0, n.reasons) for n in notes)
    return tuple(found)


BYTES_PER_TOKEN = 3


def estimate_tokens(text: str) -> int:
    """Conservative token estimate without a tokenizer: one token per 3 UTF-8 bytes."""
    return -(-len(text.encode()) // BYTES_PER_TOKEN)


def estimate_message_tokens(message: ChatMessage, overhead: int) -> int:
    """A tokenizer-free estimate of a message: its text plus the template's wrapping."""
    return estimate_tokens(message.content) + overhead


# Chat templates that raise unless roles alternate user/assistant from a user turn (Gemma,
# Mistral) get the prompt in this layout; ChatML-style templates take it as assembled.
STRICT = "strict"
Role = Literal["system", "user", "assistant"]
_OPENING = "(The conversation begins.)"


def strict_layout(messages: Sequence[ChatMessage]) -> tuple[ChatMessage, ...]:
    """The same prompt with strict alternation: the leading system text folded into the first
    user turn, later system notes read as user text, same-role neighbours merged, and a user
    turn first (a conversation the persona opened starts with a short user note)."""
    lead: list[str] = []
    rest = list(messages)
    while rest and rest[0].role == "system":
        lead.append(rest.pop(0).content)
    merged: list[ChatMessage] = []
    for message in rest:
        role: Role = "assistant" if message.role == "assistant" else "user"
        if merged and merged[-1].role == role:
            merged[-1] = ChatMessage(role, f"{merged[-1].content}\n\n{message.content}")
        else:
            merged.append(ChatMessage(role, message.content))
    system = "\n\n".join(text for text in lead if text)
    if not merged or merged[0].role != "user":
        merged.insert(0, ChatMessage("user", system or _OPENING))
    elif system:
        merged[0] = ChatMessage("user", f"{system}\n\n{merged[0].content}")
    return tuple(merged)


def laid_out(messages: Sequence[ChatMessage], template: str) -> tuple[ChatMessage, ...]:
    """The messages in the layout ``template`` (EngineInfo.template) needs."""
    return strict_layout(messages) if template == STRICT else tuple(messages)
