"""Context blocks: what a context source (lore, memory, knowledge, the history) adds to a turn's
prompt, where, and how readily it is dropped when the token budget is tight.

Layout of an assembled prompt (core/prompt.py):

    [persona prefix]                     <- first, byte-identical for every person (prefix cache)
    [blocks "before_persona"]            <- per-turn material that belongs before the character
    [blocks "after_persona"]                definition; it follows the prefix, since nothing
    [caller instructions]                   per-person may precede it
    [history, with "in_history" blocks at their depth]
    [user: the new message]

Priority: higher is kept first under budget pressure. The history source gives message N from
the end priority -N (the newest history message -1), so a block with priority >= 0 is kept
before any history; non-droppable blocks are always kept (or the turn is refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from personae.types.turns import Role

Position = Literal["before_persona", "after_persona", "in_history"]
Outcome = Literal["chosen", "dropped", "considered"]

# The history source's name: its blocks are the conversation's own messages.
HISTORY_SOURCE = "history"


@dataclass(frozen=True, slots=True)
class ContextBlock:
    """One piece of context for one turn.

    ``depth`` (for "in_history"): how many chat messages follow the block, the new message
    included: 0 puts it after the new message, 1 right before it. A block with empty ``text``
    is a note for the trace (the source considered something and did not insert it; ``reasons``
    say why) and is never put in the prompt. ``reasons`` is the provenance: (id, why) pairs,
    e.g. ("lore:12", "key 'dragon' in the last message").
    """

    text: str
    source: str
    role: Role = "system"
    position: Position = "after_persona"
    depth: int = 0
    priority: int = 0
    droppable: bool = True
    reasons: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ContextNote:
    """What the trace says about one considered block: chosen, dropped (budget) or considered
    (a source's own note), with its provenance and cost."""

    source: str
    outcome: Outcome
    tokens: int
    reasons: tuple[tuple[str, str], ...] = ()
