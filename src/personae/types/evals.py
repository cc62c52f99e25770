"""A persona's own test cases: what creators write under ``tests:`` in a persona file (or in
``<id>.eval.yaml`` beside it) and what `personae eval` runs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expectations(_Strict):
    """What the persona's last reply in the case must (not) do; every key is optional."""

    must_mention: tuple[str | tuple[str, ...], ...] = Field(
        (),
        description="Words the reply contains (any case); a list item that is itself a list "
        "passes when any one of its words is there",
    )
    must_not_mention: tuple[str, ...] = Field((), description="Words the reply never contains")
    # The languages personae.evals.language can tell apart.
    language: Literal["en", "es", "fr", "de", "it", "pt"] | None = Field(
        None,
        description="The reply is mostly in this language: en, es, fr, de, it or pt",
    )
    min_chars: int | None = Field(None, ge=0, description="Shortest acceptable reply")
    max_chars: int | None = Field(None, ge=1, description="Longest acceptable reply")
    matches: tuple[str, ...] = Field((), description="Regular expressions the reply matches")
    not_matches: tuple[str, ...] = Field((), description="Regular expressions it never matches")
    declines: bool | None = Field(
        None, description="true: the reply declines (a boundary topic); false: it does not"
    )
    rubric: str | None = Field(
        None,
        min_length=1,
        description="What a good reply does, scored 1-5 by the judge (PERSONAE_JUDGE_BASE_URL)",
    )
    min_score: int = Field(4, ge=1, le=5, description="Lowest judge score that passes")

    @field_validator("matches", "not_matches")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(
                    f"{pattern!r} is not a valid regular expression ({err}); quote it in YAML "
                    "and escape special characters with a backslash"
                ) from None
        return patterns

    @model_validator(mode="after")
    def _lengths_in_order(self) -> Expectations:
        low, high = self.min_chars, self.max_chars
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_chars ({low}) is above max_chars ({high}); swap or fix them")
        return self


class EvalCase(_Strict):
    """One test: a message (or a short conversation of the person's messages; the persona
    answers each) and what its last reply must do."""

    name: str = Field(
        min_length=1,
        max_length=80,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$",
        description="Short unique name: letters, digits, spaces, '-', '_' or '.'",
    )
    messages: tuple[str, ...] = Field(
        min_length=1, max_length=12, description="The person's messages, in order"
    )
    expect: Expectations = Expectations()

    @model_validator(mode="before")
    @classmethod
    def _one_message(cls, data: object) -> object:
        # `message: text` is the common case; it is `messages: [text]`.
        if isinstance(data, dict) and "message" in data:
            data = dict(data)
            if "messages" in data:
                raise ValueError("give either `message` or `messages`, not both")
            data["messages"] = [data.pop("message")]
        return data


class EvalSuite(_Strict):
    """An eval file beside a persona file: ``tests:`` and nothing else."""

    tests: tuple[EvalCase, ...] = Field((), description="The test cases")

    @field_validator("tests")
    @classmethod
    def _unique_test_names(cls, tests: tuple[EvalCase, ...]) -> tuple[EvalCase, ...]:
        return unique_cases(tests)


def unique_cases(tests: tuple[EvalCase, ...]) -> tuple[EvalCase, ...]:
    """Results are compared with a baseline by case name, so each name is used once."""
    seen: set[str] = set()
    for case in tests:
        if case.name.lower() in seen:
            raise ValueError(f"two tests are named {case.name!r}; give each test its own name")
        seen.add(case.name.lower())
    return tests
