"""The persona schema: a pydantic model, since it is what creators write and what
`personae persona schema` prints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from personae.types.evals import EvalCase, unique_cases

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Strict):
    """How this persona's replies are generated; unset fields fall back to the server settings."""

    engine: str | None = Field(
        None,
        description="Engine: llamacpp, openai, scripted or a plugin's; default: setting",
    )
    name: str | None = Field(
        None, description="Engine-specific model: a GGUF path for llamacpp, a model id for openai"
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling threshold")
    max_tokens: int = Field(256, ge=1, le=32768, description="Most tokens in one reply")
    context_budget: int | None = Field(
        None,
        ge=256,
        description="Tokens of prompt plus reply this persona may use; default: engine window",
    )


class StyleRules(_Strict):
    """How the persona speaks: rules it follows and habits it avoids."""

    do: tuple[str, ...] = Field((), description="Things the persona always does")
    dont: tuple[str, ...] = Field((), description="Things the persona never does")


class ExampleExchange(_Strict):
    """One exchange of an example dialogue: what a person says and how the persona answers."""

    user: str = Field(min_length=1)
    persona: str = Field(min_length=1)


class Persona(_Strict):
    """A persona file: who it is, how it speaks, what it declines, which model answers."""

    id: str = Field(pattern=SLUG_PATTERN, description="Slug: lowercase letters, digits, dashes")
    name: str = Field(min_length=1, max_length=80)
    tagline: str = Field("", max_length=200, description="One line shown in pickers")
    description: str = Field("", description="Who the persona is")
    personality: str = Field("", description="Traits and temperament")
    scenario: str = Field("", description="Where and why the conversation happens")
    greeting: str = Field(min_length=1, description="The first message a person sees")
    alternate_greetings: tuple[str, ...] = ()
    example_dialogues: tuple[tuple[ExampleExchange, ...], ...] = Field(
        (), description="Each dialogue is a list of {user, persona} exchanges"
    )
    style: StyleRules = StyleRules()
    boundaries: tuple[str, ...] = Field((), description="Topics the persona politely declines")
    model: ModelSettings = ModelSettings()
    avatar: str | None = Field(None, description="Image path, relative to the persona file")
    version: str = Field("1.0.0", description="The creator's version label for this persona")
    published: bool = Field(True, description="Listed as a model and in the web chat")
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="Free-form data for tools and plugins, kept as-is"
    )
    tests: tuple[EvalCase, ...] = Field(
        (), description="The persona's own test cases, run by `personae eval` (not in prompts)"
    )

    @field_validator("tests")
    @classmethod
    def _unique_test_names(cls, tests: tuple[EvalCase, ...]) -> tuple[EvalCase, ...]:
        return unique_cases(tests)
