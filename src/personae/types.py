"""Frozen domain types shared by every layer.

The persona schema is a pydantic model (it is what creators write and what
`personae persona schema` prints); everything that flows through a turn is a
frozen dataclass, cheap to build on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


# ---------------------------------------------------------------- work between accept and process


@dataclass(frozen=True, slots=True)
class Job:
    """Work that accept recorded and a worker runs: ``kind`` picks the handler ("turn");
    ``payload`` is JSON text the handler reads. Jobs of one conversation run in ``message_id``
    order."""

    id: int
    kind: str
    conversation_id: str
    message_id: int
    payload: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReplyRoute:
    """Where a channel conversation's reply is delivered: the channel, the connection's key
    and the chat. API, web and CLI turns have none (their caller reads the reply)."""

    channel: str
    connection: str
    chat_id: str


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One message to send to a channel, written with the reply; ``payload`` is JSON text for
    the delivery worker (route, text part, …)."""

    channel: str
    payload: str


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An outbox row as delivery and the API see it: one part of a reply on its way.

    ``status``: pending, sending (marked before the HTTP call), sent or failed; ``delivery_status``
    is what the platform reported later (sent, delivered, read, failed).
    """

    id: int
    conversation_id: str
    message_id: int
    channel: str
    connection: str
    chat_id: str
    text: str
    part: int
    parts: int
    status: str
    attempts: int
    available_at: datetime
    last_error: str | None
    error_code: str | None
    platform_message_id: str | None
    delivery_status: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """What accept stored: the conversation, the person's message, and either its earlier
    ``reply`` (already answered: nothing to run) or the ``job`` that will answer it.
    ``new_work`` is True when this accept recorded the job (or re-opened a failed one)."""

    conversation: ConversationRef
    message: StoredMessage
    reply: StoredMessage | None
    job: Job | None
    new_work: bool


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a claimed turn job needs from the store. ``status`` "running": claimed, with the
    history before the message (oldest first, each reply right after its message); "done" or
    "failed": already finished, with its ``reply`` or ``error``."""

    conversation: ConversationRef
    message: StoredMessage
    status: Literal["running", "done", "failed"]
    history: tuple[StoredMessage, ...] = ()
    attempts: int = 0
    reply: StoredMessage | None = None
    error: str | None = None


# ---------------------------------------------------------------- channels (messaging platforms)

AttachmentKind = Literal["image", "audio", "video", "document", "sticker"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A media file a person sent, by reference: fetched later through the channel's media API.

    ``ref`` is the platform's handle: a WhatsApp media id, a Telegram file_id, or the CDN URL
    Messenger and Instagram send. ``size`` and ``mime_type`` are what the platform announced.
    """

    kind: AttachmentKind
    ref: str
    mime_type: str | None = None
    size: int | None = None
    filename: str | None = None
    sha256: str | None = None
    voice: bool = False


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact card a person shared."""

    name: str
    phones: tuple[str, ...] = ()
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """A person's message from a messaging platform, normalised.

    ``message_id`` is the platform's own id (wamid, mid, Telegram ``chat:message``), the key
    that makes redeliveries no-ops; ``chat_id`` is where a reply goes (the sender, or a group);
    ``sent_at`` starts the 24-hour customer-service window.
    """

    channel: str
    connection: str
    message_id: str
    sender_id: str
    chat_id: str
    sent_at: datetime
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    contacts: tuple[Contact, ...] = ()
    payload: str | None = None  # a tapped button's or quick reply's payload
    reply_to: str | None = None
    sender_name: str | None = None
    edit_of: str | None = None  # set when this is a new version of an earlier message


DeliveryState = Literal["sent", "delivered", "read", "failed", "played"]


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """What happened to a message the persona sent.

    ``message_id`` None with ``watermark`` set means every message up to that time (Messenger).
    """

    channel: str
    connection: str
    state: DeliveryState
    recipient_id: str
    at: datetime
    message_id: str | None = None
    watermark: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelReaction:
    """A person reacted to a message (``emoji`` empty: the reaction was removed)."""

    channel: str
    connection: str
    message_id: str
    sender_id: str
    emoji: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChannelDeletion:
    """A person deleted one of their messages."""

    channel: str
    connection: str
    message_id: str
    sender_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChannelEcho:
    """A copy of a message the account itself sent (from this app or another): no reply."""

    channel: str
    connection: str
    message_id: str
    recipient_id: str
    text: str
    at: datetime


InboundEvent = ChannelMessage | ChannelStatus | ChannelReaction | ChannelDeletion | ChannelEcho


@dataclass(frozen=True, slots=True)
class SendResult:
    """How a call to a platform ended.

    ``sent``: done (``message_ids`` holds the platform's ids); ``retryable``: try again after
    ``retry_after`` seconds (None: use your own backoff); ``permanent``: do not retry, record
    ``code`` and ``error`` on the message.
    """

    outcome: Literal["sent", "retryable", "permanent"]
    message_ids: tuple[str, ...] = ()
    retry_after: float | None = None
    code: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """A channel connection as the store keeps it: its fields as given (secrets as `env:NAME`
    or literal), resolved and validated again each time it is loaded."""

    kind: str
    key: str
    persona: str
    fields: tuple[tuple[str, str], ...]
    created_at: datetime
