"""What flows through a turn: chat messages, engine requests, stored records, traces and
the turn's events; frozen dataclasses, cheap to build on the hot path."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from personae.types.channels import Attachment, Contact, Location
from personae.types.media import HeardAudio, ImagePart
from personae.types.persona import Persona
from personae.types.safety import TurnStatus, Verdict

if TYPE_CHECKING:  # context.py imports Role from here
    from personae.types.context import ContextNote

# ---------------------------------------------------------------- conversation flow

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    # Images that go with the text, for an engine that sees (EngineInfo.accepts_images).
    images: tuple[ImagePart, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: any JSON object, or JSON matching ``schema`` (a JSON Schema, kept as
    its JSON text so the value stays frozen and hashable)."""

    type: Literal["json_object", "json_schema"]
    schema: str | None = None
    name: str | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class TopLogprob:
    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token's log probability and its most likely alternatives."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top: tuple[TopLogprob, ...] = ()


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
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool = False
    top_logprobs: int = 0  # alternatives per token, with ``logprobs``


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


FinishReason = Literal["stop", "length", "content_filter"]


@dataclass(frozen=True, slots=True)
class GenerationChunk:
    """A piece of streamed output; the last chunk has ``finish_reason`` and ``usage`` set."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    logprobs: tuple[TokenLogprob, ...] = ()  # of the tokens in ``text``, when asked for


@dataclass(frozen=True, slots=True)
class EngineInfo:
    name: str
    model: str
    context_window: int
    parallel_slots: int
    supports_streaming: bool = True
    # What the engine can do beyond plain text, checked before a turn asks for it.
    supports_response_format: bool = False
    supports_logprobs: bool = False
    # Prompt layout the chat template needs: chatml, or strict user/assistant alternation.
    template: str = "chatml"
    # The engine reads image parts (a vision model); a text-only one gets a note instead.
    accepts_images: bool = False


# ---------------------------------------------------------------- stored records


@dataclass(frozen=True, slots=True)
class PersonaRecord:
    """A persona as stored: its spec plus the store's revision number and state."""

    persona: Persona
    revision: int
    created_at: datetime
    updated_at: datetime
    # The revision turns serve (None: a draft never published) and the newest one.
    published_revision: int | None = None
    latest_revision: int = 0

    @property
    def status(self) -> Literal["draft", "published", "changed"]:
        """draft: never published; changed: newer revisions wait to be published."""
        if self.published_revision is None:
            return "draft"
        return "published" if self.published_revision >= self.latest_revision else "changed"


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


# ---------------------------------------------------------------- context sources


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """A prior message and its store id (None for messages the caller sent, stateless turns)."""

    message: ChatMessage
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class ContextRequest:
    """What a context source knows of a turn: the persona (and its revision), who is talking
    (``person_id``/``conversation_id`` None for a stateless turn), the history before the new
    message (oldest first) and the new message itself."""

    persona: Persona
    text: str
    history: tuple[HistoryItem, ...] = ()
    persona_revision: int = 0
    person_id: str | None = None
    conversation_id: str | None = None
    message_id: int | None = None


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
    # What the context sources offered (history aside): chosen, dropped under budget, or
    # considered and left out by the source itself, each with its provenance.
    context: tuple[ContextNote, ...] = ()
    # The guards' verdicts, input stage first, and the status the turn ended with.
    verdicts: tuple[Verdict, ...] = ()
    status: TurnStatus = "ok"
    # Milliseconds the guards took in this turn (input and output checks together).
    guard_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class TurnRecord:
    id: int
    conversation_id: str
    inbound_message_id: int
    reply_message_id: int | None
    persona_revision: int
    status: TurnStatus
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
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool = False
    top_logprobs: int = 0


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
    # A staff test chat of one stored revision (a draft too); stateless turns only.
    persona_revision: int | None = None
    # What a messaging channel sent as structured data (``text`` also describes it in words).
    location: Location | None = None
    contacts: tuple[Contact, ...] = ()
    # Images that came with the message, sniffed and within limits: a kept conversation stores
    # them in the media store on accept; a stateless turn only shows them to the model.
    media: tuple[ImagePart, ...] = ()
    # Attachments a channel fetches after accept (the turn waits for them, briefly).
    pending_media: int = 0
    # Their platform references (media ids, file ids, URLs), kept on the turn's job: after a
    # restart the worker fetches what was not stored yet and hears a voice note not yet heard.
    fetch: tuple[Attachment, ...] = ()
    # The person spoke (a voice note): a persona whose voice_replies is "mirror" answers by voice.
    spoke: bool = False
    # Recordings heard before accept (web chat voice notes): recorded as the message's audio
    # attachments, each with its transcript.
    heard: tuple[HeardAudio, ...] = ()
    # The person's language tag as their channel reports it (Telegram's language_code, the web
    # chat's Accept-Language): the crisis protocol's resources follow its region.
    language: str = ""


# Events a turn yields, in order: TurnStarted, TextDelta*, [ReplyGuarded], TurnFinished.


@dataclass(frozen=True, slots=True)
class TurnStarted:
    conversation_id: str | None
    inbound_message_id: int | None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnFinished:
    text: str
    usage: Usage
    finish_reason: FinishReason
    trace: Trace
    reply: StoredMessage | None = None
    replayed: bool = False
    logprobs: tuple[TokenLogprob, ...] = ()  # of the whole reply, when asked for


@dataclass(frozen=True, slots=True)
class ReplyGuarded:
    """The output guard stopped or changed a reply mid-stream: ``text`` is the whole reply
    as stored (what a client shows instead of the text streamed so far); ``status`` is
    "blocked" or "rewritten". Comes just before TurnFinished."""

    text: str
    status: TurnStatus
    categories: tuple[str, ...] = ()


TurnEvent = TurnStarted | TextDelta | ReplyGuarded | TurnFinished


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """The end of a turn that failed: ``error`` is what its caller raises."""

    error: Exception


# What an event sink carries for one turn: TurnStarted, TextDelta*, then TurnFinished or TurnFailed.
WorkEvent = TurnEvent | TurnFailed
