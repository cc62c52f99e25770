"""Context blocks: per-turn material a source adds to the prompt after the persona prefix.

SEAM: this is the shape the context-block work (lorebooks, cards) defines in its own branch;
memory builds against it. When the two meet, keep that branch's definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Position = Literal["before_persona", "after_persona", "in_history"]


@dataclass(frozen=True, slots=True)
class ContextBlock:
    text: str
    role: Literal["system", "user", "assistant"] = "system"
    position: Position = "after_persona"
    depth: int = 0
    priority: int = 0
    droppable: bool = True
    source: str = ""
    # Why this block is here and what was left out: the turn trace shows these.
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContextTurn:
    """What a context source may look at: who is talking to whom, and the new message."""

    persona_slug: str
    person_id: str
    conversation_id: str
    message_id: int
    text: str
    recent: tuple[str, ...] = field(default=())
    # Ids of the history messages the turn has loaded: a source need not repeat them.
    history_ids: frozenset[int] = field(default=frozenset())


@dataclass(frozen=True, slots=True)
class ContextNote:
    """One item a context source considered for a turn, for the trace: what it was (a memory
    id, a lore entry, a document chunk), whether it went into the prompt, and why."""

    source: str
    item: str
    status: Literal["chosen", "dropped"]
    reason: str
    score: float = 0.0

    def as_reason(self) -> str:
        """A ContextBlock carries its notes as reasons in this form (tab-separated)."""
        return f"{self.status}\t{self.item}\t{self.reason}\t{self.score}"

    @classmethod
    def from_reason(cls, source: str, reason: str) -> ContextNote:
        parts = reason.split("\t")
        if len(parts) == 4 and parts[0] in ("chosen", "dropped"):
            status: Literal["chosen", "dropped"] = "chosen" if parts[0] == "chosen" else "dropped"
            return cls(source, parts[1], status, parts[2], float(parts[3]))
        return cls(source, "", "chosen", reason)
