"""What a persona remembers about a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# person: only this persona remembers it for this person (the default; the person may let
# their other personas recall it too, see MemoryStore.set_share); persona:
# knowledge the persona's creator curated, recalled for everyone.
Scope = Literal["person", "persona"]
# fact: a durable statement; episode: a raw message kept recallable; summary: a rolling
# summary of older conversation.
MemoryKind = Literal["fact", "episode", "summary"]


@dataclass(frozen=True, slots=True)
class Memory:
    id: int
    persona_slug: str
    person_id: str | None
    scope: Scope
    kind: MemoryKind
    text: str
    key: str | None  # the slot a fact fills ("home"); a newer fact in it retires this one
    importance: float
    message_id: int | None  # provenance: the message it came from
    said_at: datetime
    refers_to: datetime | None  # the time the statement is about, when it names one
    created_at: datetime
    retired_at: datetime | None = None
    superseded_by: int | None = None


@dataclass(frozen=True, slots=True)
class NewMemory:
    """A memory to store; the store gives it its id and embedding."""

    kind: MemoryKind
    text: str
    key: str | None = None
    importance: float = 0.5
    refers_to: datetime | None = None
    scope: Scope = "person"
    # Indexed and embedded with the text, not shown: the message before an episode, which
    # says what a short reply ("Yes, last week!") is about.
    context: str = ""


@dataclass(frozen=True, slots=True)
class Recalled:
    """One candidate of a recall and what the ranking made of it."""

    memory: Memory
    score: float
    lexical_rank: int | None
    dense_rank: int | None
    chosen: bool
    reason: str  # why it was chosen or dropped
