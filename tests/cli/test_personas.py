"""Persona files: every kind of mistake is reported with where, what and how to fix it."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from personae.core.personas import (
    load_persona_dir,
    load_persona_file,
    parse_persona_text,
    validate_persona_data,
)
from personae.errors import ConfigError, PersonaInvalid, Problem
from personae.types import Persona

GOOD_YAML = """\
id: test-helper
name: Tess
greeting: Hello!
model:
  temperature: 0.7
"""


def problems(text: str, source: str = "p.yaml") -> tuple[Problem, ...]:
    with pytest.raises(PersonaInvalid) as caught:
        parse_persona_text(text, source)
    assert caught.value.source == source
    return caught.value.problems


def only(found: tuple[Problem, ...], location: str) -> Problem:
    matching = [p for p in found if p.location == location]
    assert len(matching) == 1, f"no single problem at {location!r}: {found}"
    return matching[0]


def test_valid_yaml_parses() -> None:
    persona = parse_persona_text(GOOD_YAML, "p.yaml")
    assert persona.id == "test-helper"
    assert persona.model.temperature == 0.7


def test_malformed_yaml_gives_line_column_and_hint() -> None:
    (problem,) = problems("id: x\nname: y\n  greeting: oops: no\n")
    assert problem.location == "line 3, column 11"
    assert "malformed YAML" in problem.message
    assert problem.hint and "indentation" in problem.hint


def test_malformed_json_gives_line_and_column() -> None:
    (problem,) = problems('{\n  "id": "x",\n}', "p.json")
    assert problem.location == "line 3, column 1"
    assert "malformed JSON" in problem.message
    assert problem.hint and "trailing comma" in problem.hint


def test_top_level_must_be_a_mapping() -> None:
    (problem,) = problems("- id: x\n")
    assert "not a mapping" in problem.message
    (empty,) = problems("")
    assert "empty" in empty.message


def test_unknown_keys_are_named_with_suggestions_at_any_depth() -> None:
    text = GOOD_YAML.replace("name:", "nmae:").replace("temperature", "temprature")
    text += "example_dialogues:\n  - - user: hi\n      persoan: hello\n"
    found = problems(text)
    assert only(found, "nmae").hint == "did you mean 'name'?"
    assert only(found, "model.temprature").hint == "did you mean 'temperature'?"
    assert only(found, "example_dialogues.0.0.persoan").hint == "did you mean 'persona'?"
    assert "unknown key 'nmae'" in only(found, "nmae").message
    # Renamed keys leave required fields missing: reported too, in the same error.
    assert only(found, "name").hint == "add `name: ...`"
    assert only(found, "example_dialogues.0.0.persona").hint == "add `persona: ...`"


def test_unknown_key_without_a_close_match_lists_valid_keys() -> None:
    found = problems(GOOD_YAML.replace("temperature", "zzz"))
    assert only(found, "model.zzz").hint.startswith("valid keys here: engine, name")  # type: ignore[union-attr]


def test_bad_slug_has_a_slug_hint() -> None:
    problem = only(problems(GOOD_YAML.replace("test-helper", "Cooking Coach")), "id")
    assert problem.value == "'Cooking Coach'"
    assert problem.hint is not None
    assert "lowercase letters, digits and dashes, e.g. 'cooking-coach'" in problem.hint
    assert "'cooking-coach'" in problem.hint


def test_missing_greeting_says_what_to_add() -> None:
    problem = only(problems(GOOD_YAML.replace("greeting: Hello!\n", "")), "greeting")
    assert problem.message == "required field is missing"
    assert problem.hint == "add `greeting: ...`"


def test_out_of_range_temperature_gives_the_range() -> None:
    problem = only(problems(GOOD_YAML.replace("0.7", "3.5")), "model.temperature")
    assert problem.value == "3.5"
    assert problem.hint == "use a value from 0.0 (inclusive) to 2.0 (inclusive)"


def test_every_problem_is_listed_and_rendered(valid: dict[str, Any]) -> None:
    data = dict(valid, id="Bad!", greeting="", colour="red")
    data["example_dialogues"] = [[{"user": "hi", "persona": "ok"}, {"user": "x", "persona": ""}]]
    with pytest.raises(PersonaInvalid) as caught:
        validate_persona_data(data, "mem.json")
    locations = {p.location for p in caught.value.problems}
    assert locations == {"id", "greeting", "colour", "example_dialogues.0.1.persona"}
    text = str(caught.value)
    assert text.startswith("mem.json: 4 problems in persona")
    assert "mem.json: example_dialogues.0.1.persona:" in text
    assert "hint:" in text


def test_long_values_are_truncated() -> None:
    problem = only(problems(GOOD_YAML.replace("0.7", "'" + "x" * 500 + "'")), "model.temperature")
    assert problem.value is not None and len(problem.value) <= 60
    assert problem.value.endswith("...")


def test_json_files_load(write_persona: Callable[..., Path], valid: dict[str, Any]) -> None:
    path = write_persona("tess.json", json.dumps(valid))
    assert load_persona_file(path).name == "Tess"
    bad = write_persona("bad.json", json.dumps(dict(valid, model={"max_tokens": 0})))
    with pytest.raises(PersonaInvalid) as caught:
        load_persona_file(bad)
    assert only(caught.value.problems, "model.max_tokens").hint == (
        "use a value from 1 (inclusive) to 32768 (inclusive)"
    )


def test_relative_avatar_resolves_next_to_the_file(
    write_persona: Callable[..., Path], valid: dict[str, Any]
) -> None:
    path = write_persona("tess.yaml", data=dict(valid, avatar="tess.svg"))
    (path.parent / "tess.svg").write_text("<svg/>")
    avatar = load_persona_file(path).avatar
    assert avatar == str((path.parent / "tess.svg").resolve())
    missing = write_persona("gone.yaml", data=dict(valid, avatar="gone.svg"))
    with pytest.raises(PersonaInvalid) as caught:
        load_persona_file(missing)
    assert only(caught.value.problems, "avatar").value == "'gone.svg'"


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(PersonaInvalid, match="cannot read the file"):
        load_persona_file(tmp_path / "nope.yaml")


def test_dir_loads_sorted_and_stops_at_the_first_bad_file(
    write_persona: Callable[..., Path], valid: dict[str, Any]
) -> None:
    write_persona("b.yml", data=dict(valid, id="bee"))
    first = write_persona("a.json", json.dumps(dict(valid, id="ay")))
    write_persona("notes.txt", "not a persona")
    assert [p.id for p in load_persona_dir(first.parent)] == ["ay", "bee"]
    write_persona("c.yaml", data=dict(valid, id="ay"))
    with pytest.raises(PersonaInvalid, match=r"id already used by a\.json"):
        load_persona_dir(first.parent)
    with pytest.raises(ConfigError, match="PERSONAE_PERSONAS_DIR"):
        load_persona_dir(first.parent / "missing")


def test_samples_validate_and_stay_compact() -> None:
    personas = load_persona_dir(Path(str(resources.files("personae") / "samples")))
    ids = {p.id for p in personas}
    assert {"cooking-coach", "spanish-tutor", "travel-planner", "tech-support-friend"} <= ids
    for persona in personas:
        assert persona.avatar and Path(persona.avatar).is_file(), persona.id
        assert persona.model.engine is None, "samples use the server's default engine"
        assert 1 <= len(persona.alternate_greetings) <= 2
        assert len(persona.example_dialogues) == 2
        assert all(2 <= len(d) <= 3 for d in persona.example_dialogues)
        assert persona.boundaries and persona.style.do and persona.style.dont
        # The embedded model has a 2048-token slot: keep the persona text well under ~700 tokens
        # (about 4 characters per token for English).
        assert _text_chars(persona) < 2600, persona.id


def _text_chars(persona: Persona) -> int:
    parts = [persona.description, persona.personality, persona.scenario, persona.greeting]
    parts += [e.user + e.persona for d in persona.example_dialogues for e in d]
    parts += [*persona.style.do, *persona.style.dont, *persona.boundaries]
    return sum(len(p) for p in parts)


def test_persona_files_refuse_yaml_aliases_and_deep_nesting(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "id: bomb\nname: B\ngreeting: &g hi\nalternate_greetings: [*g, *g]\n", encoding="utf-8"
    )
    with pytest.raises(PersonaInvalid) as aliased:
        load_persona_file(bomb)
    assert "aliases" in str(aliased.value) and "line 4, column 23" in str(aliased.value)
    deep = tmp_path / "deep.json"
    nested = "[" * 100 + "]" * 100
    deep.write_text(
        f'{{"id": "deep", "name": "D", "greeting": "g", "extensions": {{"x": {nested}}}}}'
    )
    with pytest.raises(PersonaInvalid) as too_deep:
        load_persona_file(deep)
    assert "nested more than 64 levels" in str(too_deep.value)
