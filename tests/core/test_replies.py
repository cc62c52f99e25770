"""A reply ends at a leaked speaker label or a repeated sentence, even while it streams."""

from __future__ import annotations

import re

import pytest

from personae.core.replies import ReplyCutter, degenerate_reasons

LOOP = "Great pick! Day 1: Alfama.\nThe user: What? What's it?\nThe user: What? What's it?"


def stream(
    text: str, chunks: list[str] | None = None, name: str = "Theo"
) -> tuple[str, ReplyCutter]:
    cutter = ReplyCutter(name)
    pieces = chunks if chunks is not None else list(text)  # char by char: the hardest case
    shown = "".join(cutter.feed(piece) for piece in pieces) + cutter.finish()
    return shown, cutter


@pytest.mark.parametrize("chunks", [None, [LOOP], re.split("(?<= )", LOOP)])
def test_a_leaked_speaker_label_ends_the_reply_before_it_is_shown(chunks: list[str] | None) -> None:
    shown, cutter = stream(LOOP, chunks)
    assert shown == "Great pick! Day 1: Alfama.\n"
    assert cutter.cut_reason == "speaker_label"


@pytest.mark.parametrize(
    "label", ["User:", "**User:**", "> The user:", "Theo:", "assistant :", "- Human:"]
)
def test_labels_in_markdown_and_any_case_count(label: str) -> None:
    shown, cutter = stream(f"Sure, here you go.\n{label} and more")
    assert shown == "Sure, here you go.\n" and cutter.cut


def test_a_repeated_sentence_ends_the_reply_at_its_second_occurrence() -> None:
    text = "Book the palace early. Bring water. Book the palace early. Book the palace early."
    shown, cutter = stream(text)
    assert shown == "Book the palace early. Bring water."
    assert cutter.cut_reason == "repetition"


def test_a_repeated_line_is_cut_even_when_it_arrives_in_one_chunk() -> None:
    text = "- Scrambled eggs with spinach\n- Toast\n- Scrambled eggs with spinach\n"
    shown, cutter = stream(text, [text])
    assert shown == "- Scrambled eggs with spinach\n- Toast\n"
    assert cutter.cut_reason == "repetition"


def test_the_persona_naming_itself_at_the_start_is_dropped_not_cut() -> None:
    shown, cutter = stream("Theo: Hi there! Where to?")
    assert shown == "Hi there! Where to?" and not cutter.cut


@pytest.mark.parametrize(
    "text",
    [
        "You're welcome. Enjoy Lisbon!",
        "Meanwhile, the train takes 3.5 hours. Assistants at the desk can help.",
        "Day 1: castle.\nDay 2: Belém.\nDay 3: Sintra.",
        "Yes. Yes. Yes.",  # short repeats are speech, not a loop
        "I said: go early. Users: me and you",  # a colon mid-line is no speaker label
    ],
)
def test_clean_replies_pass_through_unchanged(text: str) -> None:
    shown, cutter = stream(text)
    assert shown == text and not cutter.cut


def test_text_is_held_back_only_while_it_could_still_be_a_label_or_a_repeat() -> None:
    cutter = ReplyCutter("Theo")
    assert cutter.feed("Use") == ""  # could become "User:"
    assert cutter.feed("ful tip") == "Useful tip"  # it did not
    assert cutter.feed(": go early. ") == ": go early."
    assert cutter.feed("Useful") == ""  # could still repeat the sentence already said
    assert cutter.feed(" trick") == " Useful trick"  # it does not


def test_degenerate_reasons_scores_finished_replies() -> None:
    assert degenerate_reasons("  ", "Theo") == ["empty"]
    assert degenerate_reasons(LOOP, "Theo") == ["speaker_label"]
    assert degenerate_reasons("Fine. All good here, thanks.", "Theo") == []


def _stream(text: str, name: str = "Rosa") -> tuple[str, str | None]:
    cutter = ReplyCutter(name)
    out = "".join(cutter.feed(word + " ") for word in text.split(" ")) + cutter.finish()
    return out, cutter.cut_reason


def test_a_loop_of_short_phrases_is_cut_while_streaming() -> None:
    # Loops the embedded model wrote until the length limit (bench/quality.py, full run).
    for looping in (
        "¡Hola! " * 30,
        "It is a little" + "-bit" * 40,
        "Claro, no es de 120, " + "no es de 120, " * 20,
    ):
        shown, reason = _stream(looping)
        assert reason == "loop", looping
        assert len(shown) < len(looping) // 3


def test_ordinary_repetition_is_not_a_loop() -> None:
    for fine in (
        "Yes. Yes. Sure thing, the dates are 1, 2, 3.",
        "hahahahahahaha that is funny!",
        "| a | b |\n|---|---|---|---|---|---|\n",
        "Mix the flour, the eggs and the milk. Then bake it for 20 minutes at 180 degrees.",
    ):
        assert _stream(fine)[1] is None, fine
        assert degenerate_reasons(fine, "Rosa") == []
    assert degenerate_reasons("¡Hola! " * 10, "Rosa") == ["loop"]
