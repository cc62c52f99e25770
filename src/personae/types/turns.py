"""What flows through a turn: chat messages, engine requests, stored records, traces and
the turn's events; frozen dataclasses, cheap to build on the hot path."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from personae.types.channels import Contact, Location
from personae.types.context import ContextNote
from personae.types.persona import Persona

# ---------------------------------------------------------------- conversation flow

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What an engine is asked to do: messages in, one streamed reply out."""

    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...] = ()
    seed: int | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class GenerationChunk:
    """A piece of streamed output; the last chunk has ``finish_reason`` and ``usage`` set."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class EngineInfo:
    name: str
    model: str
    context_window: int
    parallel_slots: int
    supports_streaming: bool = True


# ---------------------------------------------------------------- stored records


@dataclass(frozen=True, slots=True)
class PersonaRecord:
    """A persona as stored: its spec plus the store's revision number and state."""

    persona: Persona
    revision: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A person as a channel knows them: (channel, their id on that channel)."""

    channel: str
    external_id: str


@dataclass(frozen=True, slots=True)
class ConversationRef:
    id: str
    persona_id: str
    person_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: str
    persona_id: str
    person_id: str
    channel: str
    created_at: datetime
    updated_at: datetime
    message_count: int


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    conversation_id: str
    role: Role
    content: str
    created_at: datetime
    external_id: str | None = None
    persona_revision: int | None = None


# ---------------------------------------------------------------- traces


@dataclass(frozen=True, slots=True)
class PromptSection:
    """One part of the assembled prompt and what it cost."""

    name: str
    tokens: int
    messages: int


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds from the moment the turn was accepted."""

    queued_ms: float
    assembled_ms: float
    first_token_ms: float | None
    done_ms: float


@dataclass(frozen=True, slots=True)
class Trace:
    engine: str
    model: str
    budget: int
    sections: tuple[PromptSection, ...]
    dropped_message_ids: tuple[int, ...]
    # Exact for dropped messages that were counted; history older than the first message that
    # did not fit is never tokenized, so its share is estimated (UTF-8 bytes / 3 + wrapping).
    dropped_tokens: int
    timings: Timings
    usage: Usage
    finish_reason: FinishReason | None = None
    error: str | None = None
    # Why the reply was ended early (core.replies): "speaker_label" or "repetition".
    cut: str | None = None
    # What context sources (memory) considered for this turn: chosen and dropped, and why.
    context: tuple[ContextNote, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnRecord:
    id: int
    conversation_id: str
    inbound_message_id: int
    reply_message_id: int | None
    persona_revision: int
    status: Literal["ok", "failed"]
    trace: Trace | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Per-call overrides of the persona's model settings (None keeps the persona's)."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class TurnInput:
    """One inbound message for a persona.

    With ``person`` set the conversation is kept server-side and ``text`` is the new message;
    with ``person`` None the turn is stateless and ``history`` carries the prior messages.
    """

    persona: str
    text: str
    person: PersonRef | None = None
    external_id: str | None = None
    history: tuple[ChatMessage, ...] = ()
    instructions: str = ""
    options: GenerationOptions = field(default_factory=GenerationOptions)
    # Only an admin's channel sets this: to everyone else an unpublished persona does not exist.
    allow_unpublished: bool = False
    # What a messaging channel sent as structured data (``text`` also describes it in words).
    location: Location | None = None
    contacts: tuple[Contact, ...] = ()


# Events a turn yields, in order: TurnStarted, TextDelta*, TurnFinished.


@dataclass(frozen=True, slots=True)
class TurnStarted:
    conversation_id: str | None
    inbound_message_id: int | None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class TurnFinished:
    text: str
    usage: Usage
    finish_reason: FinishReason
    trace: Trace
    reply: StoredMessage | None = None
    replayed: bool = False


TurnEvent = TurnStarted | TextDelta | TurnFinished


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """The end of a turn that failed: ``error`` is what its caller raises."""

    error: Exception


# What an event sink carries for one turn: TurnStarted, TextDelta*, then TurnFinished or TurnFailed.
WorkEvent = TurnEvent | TurnFailed
