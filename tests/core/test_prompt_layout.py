"""Prompt layout for chat templates that demand strict user/assistant alternation."""

from __future__ import annotations

from personae.core.prompt import laid_out, strict_layout
from personae.types import ChatMessage as M


def roles(messages: tuple[M, ...]) -> list[str]:
    return [m.role for m in messages]


def test_system_folds_into_the_first_user_turn() -> None:
    out = strict_layout([M("system", "You are Ada."), M("user", "Hi")])
    assert out == (M("user", "You are Ada.\n\nHi"),)


def test_same_role_neighbours_merge_and_notes_become_user_text() -> None:
    out = strict_layout(
        [
            M("system", "You are Ada."),
            M("system", "Lore: cats."),
            M("user", "Hi"),
            M("user", "Are you there?"),
            M("assistant", "Yes."),
            M("assistant", "Hello!"),
            M("system", "Be brief."),
            M("user", "Tell me more"),
        ]
    )
    assert roles(out) == ["user", "assistant", "user"]
    assert out[0].content == "You are Ada.\n\nLore: cats.\n\nHi\n\nAre you there?"
    assert out[1].content == "Yes.\n\nHello!"
    assert out[2].content == "Be brief.\n\nTell me more"


def test_a_conversation_the_persona_opened_starts_with_a_user_turn() -> None:
    out = strict_layout([M("system", "You are Ada."), M("assistant", "Hello!"), M("user", "Hi")])
    assert roles(out) == ["user", "assistant", "user"]
    assert out[0].content == "You are Ada."
    bare = strict_layout([M("assistant", "Hello!"), M("user", "Hi")])
    assert roles(bare) == ["user", "assistant", "user"]


def test_chatml_keeps_the_prompt_as_assembled() -> None:
    messages = [M("system", "S"), M("user", "a"), M("user", "b")]
    assert laid_out(messages, "chatml") == tuple(messages)
    assert roles(laid_out(messages, "strict")) == ["user"]
