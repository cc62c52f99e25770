"""The persona schema: a pydantic model, since it is what creators write and what
`personae persona schema` prints."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from personae.types.evals import EvalCase, unique_cases
from personae.types.lore import Lorebook

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$"
# What a prompt template may name as {{field}}; creator_notes is deliberately absent (never
# shown to the model). {{user}} renders as USER_NAME, the same for everyone (prefix cache).
TEMPLATE_FIELDS = (
    "char", "user", "name", "nickname", "tagline", "description", "personality", "scenario",
    "system_prompt", "mes_example", "style.do", "style.dont", "boundaries",
)  # fmt: skip
USER_NAME = "User"
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


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


class VoiceSettings(_Strict):
    """How the persona sounds when it speaks; unset fields fall back to the server settings."""

    engine: str | None = Field(
        None,
        description="Text-to-speech: espeak, piper, openai or a plugin's; default: setting "
        "PERSONAE_TTS_ENGINE",
    )
    voice: str | None = Field(
        None,
        max_length=200,
        description="The engine's voice: an espeak-ng voice (en-us), `joe` or a Piper .onnx "
        "path, an OpenAI voice (alloy); default: the engine's own",
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate, 1.0 is normal")


VoiceReplies = Literal["never", "mirror", "always"]
VideoReplies = Literal["never", "on_request", "greetings"]


class StyleRules(_Strict):
    """How the persona speaks: rules it follows and habits it avoids."""

    do: tuple[str, ...] = Field((), description="Things the persona always does")
    dont: tuple[str, ...] = Field((), description="Things the persona never does")


class ExampleExchange(_Strict):
    """One exchange of an example dialogue: what a person says and how the persona answers."""

    user: str = Field(min_length=1)
    persona: str = Field(min_length=1)


DEFAULT_DISCLOSURE = "Just so you know: I'm {name}, an AI persona, not a real person."
DEFAULT_REFUSAL = "Sorry, I can't help with that. Let's talk about something else."
DEFAULT_BREAK = "We've been chatting for a while: this might be a good moment for a short break."


class ProfessionalRedirect(_Strict):
    """A professional field the persona does not advise on, and where it sends people."""

    topic: Literal["medical", "legal", "financial", "mental_health"]
    redirect: str = Field(
        "",
        description="What the persona says instead (default: suggest a qualified professional)",
    )


class SafetySettings(_Strict):
    """The creator's safety layer. The platform floor (no sexual content involving minors,
    the crisis protocol, AI disclosure, truthful answers to "are you human?") cannot be
    turned off here."""

    disclosure: str = Field(
        DEFAULT_DISCLOSURE,
        min_length=1,
        description="The persona's own words for 'I am an AI' ({name}: the persona's name); "
        "said in the first reply and again after 3 hours of conversation",
    )
    refusal: str = Field(
        DEFAULT_REFUSAL, min_length=1, description="How the persona declines, in its voice"
    )
    break_reminder: str = Field(
        DEFAULT_BREAK, min_length=1, description="Teen audience: said after 3 hours of chat"
    )
    topics_refused: tuple[str, ...] = Field(
        (), description="Words or phrases the persona never discusses (case-insensitive)"
    )
    topics_allowed: tuple[str, ...] = Field(
        (),
        description="If set, the only subjects the persona takes up (keywords); others are "
        "declined in character",
    )
    romance: bool = Field(False, description="Allow romantic role-play (never for teens)")
    professional: tuple[ProfessionalRedirect, ...] = Field(
        (), description="Fields the persona redirects to a professional instead of advising"
    )
    impersonates: str | None = Field(
        None, description="The real living person this persona presents as, if any"
    )
    consent_recorded: bool = Field(
        False,
        description="Impersonation: the person named in `impersonates` has consented (recorded "
        "by the creator; required to create the persona)",
    )


class GalleryImage(_Strict):
    """A picture the creator gave the persona to send, and what it shows (the persona picks
    it when what it wants to show matches the description)."""

    file: str = Field(min_length=1, description="Image path, relative to the persona file")
    description: str = Field(min_length=1, max_length=500, description="What the picture shows")


class MemorySettings(_Strict):
    """How this persona's long-term memory finds facts after each turn."""

    extractor: Literal["offline", "engine"] = Field(
        "offline",
        description="offline: patterns for explicit self-statements (any engine); engine: the "
        "persona's own engine extracts facts as JSON (for capable models; the offline "
        "extractor stands in when its answer is unusable)",
    )


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
    voice: VoiceSettings = Field(
        default_factory=VoiceSettings, description="The persona's voice for spoken replies"
    )
    voice_replies: VoiceReplies = Field(
        "mirror",
        description="When replies are spoken: never; mirror (a voice note answers a voice "
        "note); always (on channels that take audio)",
    )
    video_replies: VideoReplies = Field(
        "never",
        description="When a reply is a short video of the persona (its avatar speaking): "
        "never; on_request (the person asks for a video); greetings (the first reply in a "
        "conversation, and replies to a hello); on channels that send video",
    )
    memory: MemorySettings = MemorySettings()
    avatar: str | None = Field(None, description="Image path, relative to the persona file")
    appearance: str = Field(
        "",
        max_length=2000,
        description="What the persona looks like, for the pictures it sends (image generation)",
    )
    gallery: tuple[GalleryImage, ...] = Field(
        (), max_length=100, description="Pictures the persona may send, each with a description"
    )
    image_seed: int | None = Field(
        None,
        ge=0,
        le=2**31 - 1,
        description="Seed for its generated pictures, so they keep one look; default: from its id",
    )
    version: str = Field("1.0.0", description="The creator's version label for this persona")
    published: bool = Field(True, description="Listed as a model and in the web chat")
    safety: SafetySettings = Field(
        default_factory=SafetySettings, description="Creator safety settings (layer 2)"
    )
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="Free-form data for tools and plugins, kept as-is"
    )
    # Character Card fields (V2/V3); see README "Character Cards".
    system_prompt: str = Field(
        "", description="Replaces the template's opening; {{original}} is the default opening"
    )
    post_history_instructions: str = Field(
        "", description="Instructions placed after the conversation, every turn"
    )
    mes_example: str = Field(
        "", description="Card-style examples: <START> blocks of '{{user}}:'/'{{char}}:' lines"
    )
    creator_notes: str = Field("", description="Notes for people; never shown to the model")
    creator: str = ""
    tags: tuple[str, ...] = ()
    nickname: str = Field("", description="Used for {{char}} when set")
    prompt_template: str | None = Field(
        None,
        description="The system prompt as a template over the fields ({{description}}, "
        "{{char}}...); a paragraph whose fields are all empty is left out. Default: built in",
    )
    lorebook: Lorebook | None = Field(None, description="World info activated by keywords")

    @field_validator("prompt_template")
    @classmethod
    def _known_fields(cls, template: str | None) -> str | None:
        if template is None:
            return None
        unknown = [
            name
            for name in _PLACEHOLDER.findall(template)
            if name.lower() not in TEMPLATE_FIELDS and name.lower() != "original"
        ]
        if unknown:
            raise ValueError(
                f"unknown template field(s) {', '.join(sorted(set(unknown)))}; "
                f"use {', '.join('{{' + f + '}}' for f in TEMPLATE_FIELDS)}"
            )
        return template

    tests: tuple[EvalCase, ...] = Field(
        (), description="The persona's own test cases, run by `personae eval` (not in prompts)"
    )

    @field_validator("tests")
    @classmethod
    def _unique_test_names(cls, tests: tuple[EvalCase, ...]) -> tuple[EvalCase, ...]:
        return unique_cases(tests)
