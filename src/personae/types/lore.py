"""Lorebooks (world info): entries activated by keys in the recent chat, inserted into the
prompt. Field names follow the Character Card V2/V3 ``character_book`` plus SillyTavern's
extras (cards.md section 3); what a card carries beyond these stays in ``extensions``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SelectiveLogic = Literal["and_any", "not_all", "not_any", "and_all"]
LorePosition = Literal["before_char", "after_char", "at_depth"]
MAX_SCAN_DEPTH = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoreEntry(_Strict):
    """One entry: when it activates (keys, constant, timing, chance) and where it goes."""

    id: int | str | None = Field(None, description="Stable id; timed state is kept per id")
    keys: tuple[str, ...] = Field((), description="Any of these in the scanned chat activates")
    secondary_keys: tuple[str, ...] = Field((), description="Checked with selective_logic")
    content: str = Field("", description="The text inserted into the prompt")
    enabled: bool = True
    constant: bool = Field(False, description="Always active (still within the budget)")
    use_regex: bool = Field(False, description="Every key is a regular expression")
    case_sensitive: bool | None = Field(None, description="Default: the book's setting")
    match_whole_words: bool | None = Field(None, description="Default: the book's setting")
    selective: bool = Field(True, description="Use secondary_keys when there are any")
    selective_logic: SelectiveLogic = "and_any"
    insertion_order: int = Field(100, description="Lower is placed earlier in the prompt")
    priority: int | None = Field(None, description="Under budget pressure, lower goes first")
    position: LorePosition = "before_char"
    depth: int = Field(4, ge=0, le=MAX_SCAN_DEPTH, description="Messages from the end (at_depth)")
    role: Literal["system", "user", "assistant"] = "system"
    scan_depth: int | None = Field(None, ge=0, le=MAX_SCAN_DEPTH, description="Default: book's")
    probability: int = Field(100, ge=0, le=100, description="Percent chance once matched")
    group: str = Field("", description="Inclusion groups (comma-separated): one entry each")
    group_override: bool = Field(False, description="Wins its group by insertion_order")
    group_weight: int = Field(100, ge=1, description="Weight of the random pick in its group")
    sticky: int = Field(0, ge=0, description="Stays active this many messages after activating")
    cooldown: int = Field(0, ge=0, description="Cannot activate this many messages afterwards")
    delay: int = Field(0, ge=0, description="Needs at least this many messages in the chat")
    exclude_recursion: bool = Field(False, description="Not activated by other entries' text")
    prevent_recursion: bool = Field(False, description="Its text activates no other entry")
    delay_until_recursion: int = Field(0, ge=0, description="Only from this recursion level")
    name: str = ""
    comment: str = ""
    extensions: dict[str, Any] = Field(default_factory=dict)


class Lorebook(_Strict):
    """A persona's lorebook (a card's ``character_book``)."""

    name: str = ""
    description: str = ""
    scan_depth: int = Field(2, ge=0, le=MAX_SCAN_DEPTH, description="Recent messages scanned")
    token_budget: int = Field(1024, ge=1, description="Most tokens of lore in one prompt")
    recursive_scanning: bool = Field(False, description="Entry text can activate entries")
    max_recursion_steps: int = Field(3, ge=0, le=100, description="0: until nothing new")
    case_sensitive: bool = False
    match_whole_words: bool = True
    extensions: dict[str, Any] = Field(default_factory=dict)
    entries: tuple[LoreEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class LoreTimer:
    """Per-conversation timing of one entry, in chat positions (the message count when the
    entry was scanned): sticky while ``position < sticky_end``, blocked by its cooldown while
    ``position < cooldown_end``."""

    entry: str
    activated_at: int
    sticky_end: int
    cooldown_end: int
