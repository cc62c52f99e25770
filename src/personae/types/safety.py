"""Safety verdicts and what a guard is told: frozen, stored on the turn's trace.

Categories are the MLCommons / Llama Guard hazard codes S1–S14 plus persona codes:
P1 disclosure, P1H human-claims (a reply claiming to be human, or a question about it),
P2 crisis (self-harm intent), P3 minors, P4 impersonation, P5 professional advice,
PL prompt leak, PI prompt injection, CT creator topic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from personae.types.persona import Persona

HAZARDS: dict[str, str] = {
    "S1": "violent crimes",
    "S2": "non-violent crimes",
    "S3": "sex-related crimes",
    "S4": "child sexual exploitation",
    "S5": "defamation",
    "S6": "specialized advice",
    "S7": "privacy",
    "S8": "intellectual property",
    "S9": "indiscriminate weapons",
    "S10": "hate",
    "S11": "suicide and self-harm",
    "S12": "sexual content",
    "S13": "elections",
    "S14": "code interpreter abuse",
}
PERSONA_CODES: dict[str, str] = {
    "P1": "AI disclosure",
    "P1H": "human claims",
    "P2": "crisis",
    "P3": "minors",
    "P4": "impersonation",
    "P5": "professional advice",
    "PL": "prompt leak",
    "PI": "prompt injection",
    "CT": "creator topic",
}
CATEGORIES: dict[str, str] = {**HAZARDS, **PERSONA_CODES}

Action = Literal[
    "allow", "refuse_in_character", "safe_completion", "crisis_response", "block", "rewrite"
]
Stage = Literal["input", "output"]
Audience = Literal["general", "teen"]
TurnStatus = Literal["ok", "failed", "refused", "crisis", "blocked", "rewritten"]

# How strongly each action overrides the others when several guards answer.
ACTION_RANK: dict[str, int] = {
    "allow": 0,
    "safe_completion": 1,
    "rewrite": 2,
    "refuse_in_character": 3,
    "block": 4,
    "crisis_response": 5,
}
# The turn status an action ends the turn with.
STATUS_OF: dict[str, TurnStatus] = {
    "allow": "ok",
    "safe_completion": "ok",
    "rewrite": "rewritten",
    "refuse_in_character": "refused",
    "block": "blocked",
    "crisis_response": "crisis",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One guard's answer for one stage of a turn.

    ``scores`` are (category or signal, value in 0..1) pairs; ``text`` is what replaces the
    reply for ``rewrite``, or the instruction for ``safe_completion`` (empty: the default).
    ``harm_share`` is how much of the guard's evidence points to harm, 0..1 (the embedded
    guard: its harm score as a share of the score that would stop the message; 1 when it
    stopped it); None when the guard does not say.
    """

    guard: str
    stage: Stage
    allowed: bool = True
    action: Action = "allow"
    categories: tuple[str, ...] = ()
    scores: tuple[tuple[str, float], ...] = ()
    reason: str = ""
    text: str = ""
    latency_ms: float = 0.0
    harm_share: float | None = None

    @classmethod
    def allow(cls, guard: str, stage: Stage, **extra: object) -> Verdict:
        return cls(guard, stage, **extra)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Audiences:
    """Who the person is, as far as the turn knows: the channel's word, or their own."""

    audience: Audience = "general"
    locale: str = "en-US"


@dataclass(frozen=True, slots=True)
class GuardInput:
    """What an input check sees: the persona (with its creator's safety settings), the
    person's message, the recent history and the audience."""

    persona: Persona
    text: str
    history: tuple[tuple[str, str], ...] = ()  # (role, content), oldest first
    audience: Audiences = field(default_factory=Audiences)
    channel: str = ""


@dataclass(frozen=True, slots=True)
class GuardOutput:
    """What an output check sees: the reply so far (``final``: the whole of it), the
    person's message and the hidden instructions the reply must not leak."""

    persona: Persona
    prompt: str
    reply: str
    final: bool
    hidden: str = ""
    audience: Audiences = field(default_factory=Audiences)
    channel: str = ""
