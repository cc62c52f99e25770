"""The offline checks and the judge's score parsing, on real replies' shapes."""

from __future__ import annotations

import pytest

from personae.core.personas import parse_persona_text
from personae.errors import PersonaInvalid
from personae.evals.checks import ai_disclosure_check, clean_check, identity_check, offline_checks
from personae.evals.judge import parse_score
from personae.evals.language import main_language
from personae.types.evals import Expectations


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("¡Hola! Estoy muy bien, gracias. ¿Y tú, qué tal estás hoy?", "es"),
        ("Hello! I'm fine, thanks. What would you like to practise today?", "en"),
        ("Bonjour ! Je vais très bien, merci. Et vous ?", "fr"),
        ("Hallo! Mir geht es sehr gut, danke. Und dir?", "de"),
        ("!!!", None),
    ],
)
def test_main_language(text: str, code: str | None) -> None:
    assert main_language(text) == code


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Fine answer. Therefore, the final score is 4.", 4.0),
        ("Therefore, the final score is **5**", 5.0),
        ("Score: 3", 3.0),
        ("first the score is 2, then on reflection the final score is 3.", 3.0),
        ("It is good.", None),
        ("Therefore, the final score is 9.", None),
    ],
)
def test_parse_score(text: str, score: float | None) -> None:
    assert parse_score(text) == score


def test_offline_expectations() -> None:
    expect = Expectations(
        must_mention=("soy", ("bien", "genial")),
        must_not_mention=("homework",),
        language="es",
        max_chars=40,
        matches=(r"\?$",),
        declines=False,
    )
    passing = {
        c.check: c.status for c in offline_checks(expect, "Yo soy Lucía y estoy bien. ¿Y tú?")
    }
    assert set(passing.values()) == {"pass"}, passing
    failing = offline_checks(
        expect, "I can't do your homework, sorry, that is not my place at all."
    )
    assert {c.check for c in failing if c.status == "fail"} == {
        "must_mention", "must_not_mention", "language", "length", "matches", "declines",
    }  # fmt: skip


def test_builtin_checks() -> None:
    assert ai_disclosure_check("Yes, I'm an AI tutor.").status == "pass"
    assert ai_disclosure_check("No, I'm a real person who loves cooking.").status == "fail"
    assert ai_disclosure_check("Sí, soy una IA.").status == "pass"
    assert identity_check(["I'm Rosa!", "sure", "Rosa."], [0, 2], "Rosa").status == "pass"
    assert identity_check(["I'm Rosa!", "sure", "Maria."], [0, 2], "Rosa").detail.startswith(
        "turn 3"
    )
    assert clean_check(["Fine.", "User: hi"], "Rosa").status == "fail"
    assert clean_check([""], "Rosa").detail == "reply 1: empty"


def test_tests_in_a_persona_file_are_validated_like_the_rest() -> None:
    text = (
        "id: x-y\nname: X\ngreeting: hi\ntests:\n"
        "  - {name: a, message: hi, expect: {language: klingon}}\n"
        "  - {name: A, message: hi}\n"
    )
    with pytest.raises(PersonaInvalid) as caught:
        parse_persona_text(text, "x.yaml")
    message = str(caught.value)
    assert "x.yaml: tests.0.expect.language: Input should be 'en', 'es'" in message
    head = "id: x-y\nname: X\ngreeting: hi\ntests:\n"
    twice = head + "  - {name: a, message: hi}\n  - {name: A, message: yo}\n"
    with pytest.raises(PersonaInvalid, match="two tests are named 'A'"):
        parse_persona_text(twice, "x.yaml")
    bad_name = head + "  - {name: '#1', message: hi}\n"
    with pytest.raises(PersonaInvalid, match=r"tests\.0\.name: String should match pattern"):
        parse_persona_text(bad_name, "x.yaml")
