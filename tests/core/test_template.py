"""The persona's system prompt comes from a template over its card fields."""

from __future__ import annotations

import pytest

from personae.core.personas import validate_persona_data
from personae.core.prompt import persona_prefix
from personae.core.template import PLATFORM_RULES, render_persona
from personae.errors import PersonaInvalid
from personae.stores.sql import SqlStore
from personae.types import ChatMessage, PersonRef, TurnFinished, TurnInput

from .conftest import RecordingEngine, make_persona, runner_for

CARD_FIELDS = {
    "name": "Seraphina",
    "nickname": "Sera",
    "description": "{{char}} guards the forest and watches over {{user}}.",
    "personality": "gentle, protective",
    "scenario": "<USER> wakes up in <BOT>'s glade.",
    "system_prompt": "{{original}} Write vivid prose.",
    "creator_notes": "SECRET-NOTE for people only",
    "mes_example": "<START>\n{{user}}: Who are you?\n{{char}}: I am {{char}}.\nI guard the glade.\n"
    "<START>\n<USER>: Thanks\n<BOT>: *smiles*",
    "post_history_instructions": "Stay as {{char}}; never speak for {{user}}.",
    "greeting": "*{{char}} looks at you.*",
}


def test_card_fields_render_with_macros_and_never_the_creator_notes() -> None:
    persona = make_persona(**CARD_FIELDS)
    text = render_persona(persona)
    assert text.startswith("You are Sera. Write vivid prose.")
    assert "Sera guards the forest and watches over User." in text
    assert "User wakes up in Sera's glade." in text
    assert "Personality: gentle, protective" in text
    assert "SECRET-NOTE" not in text and "{{" not in text and "<BOT>" not in text
    prefix = persona_prefix(persona)
    assert all("SECRET-NOTE" not in m.content for m in prefix)
    assert ChatMessage("user", "Who are you?") in prefix
    assert ChatMessage("assistant", "I am Sera.\nI guard the glade.") in prefix
    assert ChatMessage("assistant", "*smiles*") in prefix
    assert prefix[-1] == ChatMessage("assistant", "*Sera looks at you.*")


def test_a_custom_template_leaves_out_paragraphs_whose_fields_are_empty() -> None:
    template = "{{char}} here.\n\nWorld: {{scenario}}\n\nMood: {{personality}}"
    persona = make_persona(prompt_template=template, scenario="", personality="calm")
    # The platform's rules close every prompt, whatever the template (a creator cannot drop them).
    assert render_persona(persona) == f"Helper here.\n\nMood: calm\n\n{PLATFORM_RULES}"


def test_an_unknown_template_field_is_refused_with_the_known_ones() -> None:
    with pytest.raises(PersonaInvalid) as err:
        validate_persona_data(
            {"id": "x-y", "name": "X", "greeting": "hi", "prompt_template": "{{creator_notes}}"},
            "x.yaml",
        )
    assert "creator_notes" in str(err.value) and "{{description}}" in str(err.value)


async def test_post_history_instructions_follow_the_conversation(
    store: SqlStore, engine: RecordingEngine
) -> None:
    await store.put_persona(make_persona(**CARD_FIELDS))
    runner = await runner_for(store, engine)
    async for event in runner.run(
        TurnInput(persona="helper", text="hello", person=PersonRef("api", "ana"))
    ):
        if isinstance(event, TurnFinished):
            assert [s.name for s in event.trace.sections][1] == "post_history"
    messages = engine.requests[-1].messages
    assert messages[-2:] == (
        ChatMessage("user", "hello"),
        ChatMessage("system", "Stay as Sera; never speak for User."),
    )
