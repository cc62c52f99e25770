"""Lorebook activation with SillyTavern's semantics (cards.md section 3)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from personae.core.lore import activate, compile_book
from personae.core.lore_source import LoreSource
from personae.core.prompt import estimate_tokens
from personae.stores.sql import SqlStore
from personae.types import ContextBlock, Lorebook, PersonRef, TurnFinished, TurnInput

from .conftest import RecordingEngine, make_persona, runner_for

PERSONA = make_persona(name="Sera")


def book(*entries: dict[str, Any], **options: Any) -> Lorebook:
    return Lorebook.model_validate({"entries": list(entries), **options})


def run(
    lore: Lorebook, *messages: str, position: int | None = None, seed: int = 1
) -> list[ContextBlock]:
    """Activate for a chat whose newest message is first."""
    result = activate(
        compile_book(lore), PERSONA, list(messages), position or len(messages), {},
        random.Random(seed), estimate_tokens,
    )  # fmt: skip
    return result.blocks


def chosen(blocks: list[ContextBlock]) -> list[str]:
    return [ref for b in blocks if b.text for ref, _ in b.reasons]


def entry(uid: int, keys: list[str], content: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"id": uid, "keys": keys, "content": content or f"lore {uid}", **fields}


def test_plain_keys_match_whole_words_ignoring_case_by_default() -> None:
    lore = book(entry(1, ["dragon"]), entry(2, ["Cat"]), entry(3, ["red moon"]))
    assert chosen(run(lore, "A DRAGON and a catalogue under the Red  Moon")) == [
        "lore:1",
        "lore:3",
    ]


def test_case_sensitive_and_substring_options() -> None:
    lore = book(
        entry(1, ["Cat"], case_sensitive=True),
        entry(2, ["cat"], match_whole_words=False),
        entry(3, ["dog"], case_sensitive=True, match_whole_words=False),
    )
    assert chosen(run(lore, "my catalogue of Dogs")) == ["lore:2"]
    assert chosen(run(lore, "Cat and hotdogs")) == ["lore:1", "lore:2", "lore:3"]


def test_overlapping_keys_all_match() -> None:
    lore = book(
        entry(1, ["dragon"]),
        entry(2, ["dragon king"]),
        entry(3, ["drag"], match_whole_words=False),
        entry(4, ["dragonfly"], match_whole_words=False),
        entry(5, ["C++"]),
    )
    assert chosen(run(lore, "the dragon king codes C++")) == [
        "lore:1",
        "lore:2",
        "lore:3",
        "lore:5",
    ]


def test_regex_keys_slashed_or_by_use_regex_and_invalid_ones_are_noted() -> None:
    lore = book(
        entry(1, ["/sw(or|ea)d/i"]),
        entry(2, [r"\bshield\b"], use_regex=True),
        entry(3, ["/([unclosed/"]),
    )
    blocks = run(lore, "A SWORD and a shield ([unclosed")
    assert chosen(blocks) == ["lore:1", "lore:2"]
    notes = [b.reasons[0] for b in blocks if not b.text]
    assert notes == [("lore:3", "invalid regular expression '/([unclosed/'")]


@pytest.mark.parametrize(
    ("logic", "text", "active"),
    [
        ("and_any", "castle gate", True),
        ("and_any", "castle", False),
        ("and_all", "castle gate moat", True),
        ("and_all", "castle gate", False),
        ("not_any", "castle", True),
        ("not_any", "castle moat", False),
        ("not_all", "castle gate", True),
        ("not_all", "castle gate moat", False),
    ],
)
def test_secondary_key_logic(logic: str, text: str, active: bool) -> None:
    lore = book(entry(1, ["castle"], secondary_keys=["gate", "moat"], selective_logic=logic))
    assert chosen(run(lore, text)) == (["lore:1"] if active else [])


def test_constant_order_positions_depth_and_role() -> None:
    lore = book(
        entry(1, [], "always here", constant=True, insertion_order=50),
        entry(2, ["tea"], "tea lore", insertion_order=10),
        entry(3, ["tea"], "after lore", position="after_char"),
        entry(4, ["tea"], "deep {{char}} lore", position="at_depth", depth=2, role="user"),
        entry(5, ["tea"], "off", enabled=False),
    )
    blocks = [b for b in run(lore, "tea please") if b.text]
    assert [(b.position, b.text) for b in blocks] == [
        ("before_persona", "tea lore\nalways here"),
        ("after_persona", "after lore"),
        ("in_history", "deep Sera lore"),
    ]
    assert (blocks[2].depth, blocks[2].role) == (2, "user")


def test_scan_depth_book_wide_and_per_entry() -> None:
    lore = book(entry(1, ["tea"]), entry(2, ["tea"], scan_depth=3), scan_depth=1)
    assert chosen(run(lore, "hello", "nothing", "tea earlier")) == ["lore:2"]
    assert chosen(run(lore, "tea now", "x")) == ["lore:1", "lore:2"]
    assert run(book(entry(1, ["tea"]), scan_depth=0), "tea") == []


def test_token_budget_keeps_higher_priority_and_stops_at_the_first_overflow() -> None:
    lore = book(
        entry(1, ["x"], "a " * 30, priority=1),
        entry(2, ["x"], "b " * 30, priority=5),
        entry(3, ["x"], "c", priority=0),
        token_budget=25,
    )
    blocks = run(lore, "x")
    assert chosen(blocks) == ["lore:2"]
    notes = {b.reasons[0][0]: b.reasons[0][1] for b in blocks if not b.text}
    assert "over the 25-token lore budget" in notes["lore:1"]
    assert "already spent" in notes["lore:3"]


def test_recursion_with_step_limit_prevent_and_exclude() -> None:
    chain = [
        entry(1, ["start"], "mentions alpha"),
        entry(2, ["alpha"], "mentions beta"),
        entry(3, ["beta"], "mentions gamma"),
        entry(4, ["gamma"], "end"),
    ]
    assert chosen(run(book(*chain), "start")) == ["lore:1"]
    full = chosen(run(book(*chain, recursive_scanning=True, max_recursion_steps=0), "start"))
    assert sorted(full) == ["lore:1", "lore:2", "lore:3", "lore:4"]
    limited = run(book(*chain, recursive_scanning=True, max_recursion_steps=2), "start")
    assert sorted(chosen(limited)) == ["lore:1", "lore:2", "lore:3"]
    prevented = [chain[0] | {"prevent_recursion": True}, *chain[1:]]
    assert chosen(run(book(*prevented, recursive_scanning=True), "start")) == ["lore:1"]
    excluded = [chain[0], chain[1] | {"exclude_recursion": True}, *chain[2:]]
    assert chosen(run(book(*excluded, recursive_scanning=True), "start")) == ["lore:1"]
    delayed = [
        entry(1, ["start"], "alpha"),
        entry(2, ["alpha", "start"], "x", delay_until_recursion=1),
    ]
    assert chosen(run(book(*delayed, recursive_scanning=True), "start")) == ["lore:1", "lore:2"]
    assert chosen(run(book(*delayed), "start")) == ["lore:1"]


def test_probability_is_seeded() -> None:
    lore = book(*(entry(i, ["x"], probability=50) for i in range(40)), token_budget=10_000)
    first, again = chosen(run(lore, "x", seed=7)), chosen(run(lore, "x", seed=7))
    assert first == again and 5 < len(first) < 35
    assert chosen(run(book(entry(1, ["x"], probability=0)), "x")) == []


def test_inclusion_groups_pick_one_override_wins_by_order() -> None:
    lore = book(
        entry(1, ["x"], group="weather", insertion_order=1),
        entry(2, ["x"], group="weather", insertion_order=9, group_override=True),
        entry(3, ["x"], group="weather", insertion_order=5, group_override=True),
        entry(4, ["x"], group="other"),
    )
    blocks = run(lore, "x")
    assert chosen(blocks) == ["lore:4", "lore:2"] or chosen(blocks) == ["lore:2", "lore:4"]
    weighted = book(*(entry(i, ["x"], group="g", group_weight=1 + 99 * (i == 3)) for i in range(5)))
    picks = [chosen(run(weighted, "x", seed=s)) for s in range(40)]
    assert all(len(p) == 1 for p in picks)
    assert sum(p == ["lore:3"] for p in picks) > 25


def test_delay_needs_enough_messages() -> None:
    lore = book(entry(1, ["x"], delay=3))
    assert chosen(run(lore, "x", position=2)) == []
    assert chosen(run(lore, "x", position=3)) == ["lore:1"]


async def test_sticky_and_cooldown_are_kept_per_conversation(
    store: SqlStore, engine: RecordingEngine
) -> None:
    lore = {
        "entries": [
            {"id": "s", "keys": ["storm"], "content": "STICKY-LORE", "sticky": 2, "cooldown": 4}
        ]
    }
    await store.put_persona(make_persona(lorebook=lore))
    runner = await runner_for(store, engine, sources=[LoreSource(store)])

    async def turn(person: str, text: str) -> bool:
        async for event in runner.run(
            TurnInput(persona="helper", text=text, person=PersonRef("api", person))
        ):
            if isinstance(event, TurnFinished):
                traced = {
                    r for n in event.trace.context if n.outcome == "chosen" for r in n.reasons
                }
        sent = any("STICKY-LORE" in m.content for m in engine.requests[-1].messages)
        assert sent == any(ref == "lore:s" for ref, _ in traced)
        return sent

    # Positions 1, 3, 5, ...: sticky 2 messages after position 1 covers position 3 only.
    assert await turn("ana", "a storm comes")  # 1: key
    assert await turn("ana", "hello")  # 3: sticky
    assert not await turn("ana", "hello again")  # 5: sticky over
    assert not await turn("ana", "storm again?")  # 7: cooling down (until 8)
    assert await turn("ana", "the storm!")  # 9: active again
    # Another conversation has its own timers.
    assert not await turn("bo", "hello")
    conversation = await store.open_conversation("helper", PersonRef("api", "ana"))
    timers = await store.lore_timers(conversation.id)
    assert timers["s"].activated_at == 9
