"""A persona file says how its persona sounds and when it answers by voice; mistakes there get
the same located, actionable problems as the rest of the file."""

from __future__ import annotations

import pytest

from personae.core.personas import parse_persona_text
from personae.errors import PersonaInvalid

BASE = "id: ana\nname: Ana\ngreeting: Hi!\n"


def test_voice_and_voice_replies_are_read() -> None:
    persona = parse_persona_text(
        BASE + "voice: {engine: piper, voice: joe, speed: 1.2}\nvoice_replies: always\n", "ana.yaml"
    )
    assert (persona.voice.engine, persona.voice.voice, persona.voice.speed) == ("piper", "joe", 1.2)
    assert persona.voice_replies == "always"


def test_defaults_mirror_the_person_with_the_server_voice() -> None:
    persona = parse_persona_text(BASE, "ana.yaml")
    assert persona.voice_replies == "mirror" and persona.voice.engine is None
    assert persona.voice.speed == 1.0


def test_mistakes_are_located_with_a_fix() -> None:
    with pytest.raises(PersonaInvalid) as caught:
        parse_persona_text(
            BASE + "voice: {speed: 9, pitch: 2}\nvoice_replies: sometimes\n", "ana.yaml"
        )
    text = str(caught.value)
    assert "ana.yaml: voice.speed" in text and "0.25" in text and "4.0" in text
    assert "voice.pitch: unknown key 'pitch'" in text and "engine, voice, speed" in text
    assert "voice_replies" in text and "write one of 'never', 'mirror' or 'always'" in text
