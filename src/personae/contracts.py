"""One Protocol per boundary; the core depends on these, adapters implement them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from personae.types import (
    Accepted,
    Attachment,
    ChatMessage,
    ContextBlock,
    ContextRequest,
    ConversationRef,
    EngineInfo,
    GenerationChunk,
    GenerationRequest,
    GuardInput,
    GuardOutput,
    InboundEvent,
    Job,
    LoreTimer,
    MediaKind,
    MediaRecord,
    OutboundImage,
    OutboxItem,
    PersonaRecord,
    PersonRef,
    SendResult,
    Speech,
    StoredMedia,
    StoredMessage,
    Trace,
    Transcript,
    TurnContext,
    TurnRecord,
    Verdict,
    WorkEvent,
)

if TYPE_CHECKING:
    import httpx

    from personae.settings import Settings


@runtime_checkable
class Engine(Protocol):
    """A language model that streams chat replies.

    ``info`` is data (name, model, context window, parallel slots), not a method.
    """

    info: EngineInfo

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Tokens each message costs inside the chat template, with the engine's own tokenizer."""
        ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Stream the reply; the last chunk carries finish_reason and usage.

        Raises EngineUnavailable (transient) or EngineError (permanent).
        """
        ...

    async def aclose(self) -> None:
        """Release the model, threads and connections."""
        ...


# A factory builds a ready engine for a model name (None: the engine's default).
EngineFactory = Callable[["Settings", str | None], Awaitable[Engine]]


class ContextSource(Protocol):
    """Adds context to a turn's prompt (lore, memory, knowledge, the history): the one narrow
    seam every retrieval plugs into. All sources of a turn are asked concurrently, alongside
    the turn's other lookups; core/prompt.py fits their blocks to the budget by priority.

    ``name`` is data: it labels the source's section in the trace.
    """

    name: str

    async def blocks(self, turn: ContextRequest) -> Sequence[ContextBlock]:
        """The blocks this source adds for this turn, in the order they should appear within
        their position. A failure fails the turn; return () when there is nothing to add."""
        ...


class LoreTimers(Protocol):
    """Per-conversation timing of lorebook entries (sticky, cooldown)."""

    async def lore_timers(self, conversation_id: str) -> dict[str, LoreTimer]:
        """The stored timers of the conversation, by entry id."""
        ...

    async def save_lore_timers(self, conversation_id: str, timers: Sequence[LoreTimer]) -> None:
        """Store these timers, replacing earlier ones of the same entries."""
        ...


# Builds a source from the settings and the runtime's store (personae.stores.sql.SqlStore,
# typed loosely here: contracts sit below the stores).
ContextSourceFactory = Callable[["Settings", Any], ContextSource]


@runtime_checkable
class Guard(Protocol):
    """A safety check on both ends of a turn; ``name`` is data.

    ``check_input`` runs after the person's message is stored and before the prompt is
    assembled; ``check_output`` runs on the reply as it streams (``final`` False: the text
    so far, held back until it passes) and once on the whole reply. Both return a Verdict
    whose ``action`` the turn carries out; a guard that cannot answer (its server is down)
    raises GuardUnavailable and the turn falls back to the other guards' verdicts.
    """

    name: str

    async def check_input(self, check: GuardInput) -> Verdict: ...

    async def check_output(self, check: GuardOutput) -> Verdict: ...

    async def aclose(self) -> None: ...


# A factory builds a ready guard from the settings.
GuardFactory = Callable[["Settings"], Awaitable[Guard]]


class PersonaSource(Protocol):
    async def get_persona(self, slug: str) -> PersonaRecord:
        """The revision of a persona that turns serve (its published one); raises
        PersonaNotFound."""
        ...

    async def get_persona_revision(self, slug: str, revision: int) -> PersonaRecord:
        """Any stored revision (a draft's test chat); raises PersonaNotFound."""
        ...


class Inbox(Protocol):
    async def accept_turn(
        self,
        persona_slug: str,
        person: PersonRef,
        text: str,
        external_id: str | None,
        kind: str,
        payload: str,
        allow_unpublished: bool = False,
    ) -> Accepted:
        """One transaction: check the persona may be seen (an unpublished one only with
        ``allow_unpublished``), open the conversation persona × person × channel, store the
        person's message once and record its job (unique per kind and message).

        A redelivered message (same external id in this conversation, or the same text still
        awaiting its reply) is not stored twice: its earlier reply comes back, or its job
        (``new_work`` False while it is in flight; a failed one is re-opened, ``new_work``
        True). Raises PersonaNotFound for a persona that does not exist or may not be seen.
        """
        ...


class TurnLog(Protocol):
    async def begin_turn(self, job: Job, history_limit: int) -> TurnContext:
        """Claim a turn job (running, one more attempt) and read its conversation, message
        and the last ``history_limit`` messages before it; a job already done or failed comes
        back with that status, claimed by nobody."""
        ...

    async def complete_turn(
        self,
        conversation: ConversationRef,
        inbound: StoredMessage,
        reply_text: str,
        persona_revision: int,
        trace: Trace,
        job_id: int | None = None,
        outbox: Sequence[OutboxItem] = (),
    ) -> tuple[StoredMessage, TurnRecord]:
        """Store the reply, the turn's trace (its ``status``: ok, refused, crisis, blocked or
        rewritten, and its guard verdicts), the job marked done and the reply's outbox
        entries, atomically; a second completion of the message returns the first."""
        ...

    async def fail_turn(
        self,
        conversation: ConversationRef,
        inbound: StoredMessage,
        persona_revision: int | None,
        trace: Trace,
        job_id: int | None = None,
    ) -> TurnRecord | None:
        """Record a failed turn (when a persona revision answered) and mark its job failed
        with ``trace.error``, atomically; the inbound message stays, awaiting a retry."""
        ...


# ---------------------------------------------------------------- media


class MediaStore(Protocol):
    """Files by content hash: the same bytes are stored once, whoever sent them.

    ``put`` sniffs what the bytes really are (the declared type is a hint at most), enforces
    the per-kind type and size limits, and writes all or nothing: a refused or failed put
    leaves no file behind. The folder implementation (personae.media.store) could be replaced
    by object storage behind this same contract.
    """

    async def put(
        self, data: bytes, kind: MediaKind | None = None, declared_mime: str | None = None
    ) -> StoredMedia:
        """Store ``data``; raises MediaRefused (what is wrong, and the limit) when it is not an
        accepted file of ``kind`` (None: whatever kind the content is)."""
        ...

    async def read(self, sha256: str) -> bytes:
        """The stored bytes; raises NotFound when there are none under that hash."""
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove the file; False when there was none."""
        ...

    def location(self, sha256: str) -> str:
        """Where the file lives, for the record (a path, or an object URL)."""
        ...


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """A picture to make: what it shows, and the persona's look and seed, so the same
    persona looks the same in every picture it sends."""

    prompt: str
    look: str = ""  # the persona's visual description, put before the prompt
    seed: int | None = None
    size: str = "1024x1024"


@runtime_checkable
class ImageGenerator(Protocol):
    """Makes images from text; ``name`` is data. Raises EngineUnavailable (transient) or
    EngineError (permanent, the server's own message)."""

    name: str

    async def generate(self, request: ImageRequest) -> bytes:
        """The image's bytes (PNG, JPEG or WebP); the caller checks them like any upload."""
        ...

    async def aclose(self) -> None: ...


# A factory builds a ready image generator from the settings.
ImageGeneratorFactory = Callable[["Settings"], Awaitable[ImageGenerator]]


class AttachmentLog(Protocol):
    """The attachments recorded on stored messages (the store's ``attachments`` table)."""

    async def add_attachment(self, record: MediaRecord) -> bool:
        """Record an attachment once per (message, position); False when it was already."""
        ...

    async def message_attachments(self, message_id: int) -> list[MediaRecord]:
        """A message's attachments, in position order."""
        ...


# ---------------------------------------------------------------- work and events

JobHandler = Callable[[Job], Awaitable[None]]


class WorkQueue(Protocol):
    """Carries jobs from accept to the workers that process them.

    The promise: jobs of one conversation run one at a time, in arrival (``message_id``)
    order; jobs of different conversations may run concurrently; a submitted job runs until
    its handler records it done or failed (in the store, with its result), also across a
    restart. Submitting a job the queue already holds is a no-op. A handler that raises
    ``personae.errors.RetryLater`` leaves its job unfinished: the queue runs it again after
    ``delay_s`` (the work queue's retry with delay), and the conversation's later jobs wait.
    """

    async def submit(self, job: Job) -> None:
        """Hand over a job that accept recorded; returns at once."""
        ...

    async def serve(self, handler: JobHandler) -> None:
        """Start running jobs with ``handler``: those recorded and unfinished, then every one
        submitted; returns once started."""
        ...

    async def aclose(self) -> None:
        """Take no more jobs; let running ones finish (unstarted ones stay recorded)."""
        ...


class WorkSource(Protocol):
    async def unfinished_work(self, kinds: Sequence[str]) -> list[Job]:
        """Jobs of these kinds recorded and not yet done or failed, in arrival order."""
        ...


class EventSink(Protocol):
    """Events of the turn answering a message, from whoever runs it to whoever waits.

    Keyed by the person's message id. Events nobody waits for are dropped; a subscriber that
    arrives while the turn runs gets TurnStarted and the text so far as one TextDelta, then
    the rest. Subscribe before submitting the job, or the end may pass unseen.
    """

    async def publish(self, message_id: int, event: WorkEvent) -> None:
        """Deliver to the current subscribers; never blocks on a slow one."""
        ...

    def subscribe(self, message_id: int) -> AbstractAsyncContextManager[AsyncIterator[WorkEvent]]:
        """Events from now until the turn's TurnFinished or TurnFailed (included)."""
        ...


# ---------------------------------------------------------------- speech


@runtime_checkable
class SpeechToText(Protocol):
    """Hears a recording: any container and codec the adapter can decode.

    ``name`` is data (shown in the trace). Raises MediaError for audio it cannot decode or
    that runs past its limit, EngineUnavailable when a remote server is down.
    """

    name: str

    async def transcribe(self, audio: bytes, mime_type: str | None) -> Transcript: ...


@runtime_checkable
class TextToSpeech(Protocol):
    """Speaks text in one of its voices (None: its default) at ``speed`` (1.0: normal)."""

    name: str

    async def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Speech: ...


# A factory builds an adapter from the settings; models load on first use, not here.
SpeechToTextFactory = Callable[["Settings"], SpeechToText]
TextToSpeechFactory = Callable[["Settings"], TextToSpeech]


# ---------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """An HTTP request to a channel's webhook, framework-free; ``body`` is the raw bytes.

    ``headers`` keys are lower-case; ``route`` is the path part after the channel's prefix
    (Telegram's bot name in ``/webhooks/telegram/{name}``), empty when there is none.
    """

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    route: str = ""


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """The HTTP answer (status, text body) and the normalised events to accept, in order."""

    status: int
    body: str
    events: tuple[InboundEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelAbilities:
    """What a channel can do, as data: limits and media it accepts, in bytes per MIME type."""

    name: str
    max_text_len: int
    media_types: Mapping[str, int] = field(default_factory=dict)
    supports_typing: bool = True
    # Free-form replies are allowed this long after the person's last message (None: always).
    window_hours: float | None = 24.0
    # Pacing: sends per second per account and per chat, each a token bucket whose burst is
    # the sends it may take at once (None: no limit of that kind).
    sends_per_s: float | None = None
    chat_sends_per_s: float | None = None
    chat_burst: int = 1
    # The platform reports each send by webhook with the tag the send carried, so a send cut
    # off by a crash can be confirmed instead of repeated.
    confirms_sends: bool = False
    # The channel sends voice notes (``VoiceSender.send_voice``): spoken replies go out as audio.
    sends_voice: bool = False
    # The channel sends video (``VideoSender.send_video``): video replies go out as video.
    sends_video: bool = False


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A downloaded attachment, or why it could not be: ``outcome`` as in SendResult."""

    outcome: Literal["ok", "refused", "retryable", "permanent"]
    data: bytes = b""
    mime_type: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """Whether a connection's credentials work, from one cheap authenticated call; ``account``
    is what the platform says about the account (id, name), never a secret."""

    outcome: Literal["ok", "retryable", "permanent"]
    account: Mapping[str, str] = field(default_factory=dict)
    code: str | None = None
    error: str | None = None


class WebhookHandler(Protocol):
    async def handle(self, request: WebhookRequest) -> WebhookResult:
        """Verify, route and normalise one webhook request; never raises for bad input."""
        ...


@runtime_checkable
class Channel(Protocol):
    """One connected account on a messaging platform; ``abilities`` is data, not a method.

    Methods never raise for platform failures: they return the classified outcome.
    """

    abilities: ChannelAbilities

    async def send(self, chat_id: str, text: str, tag: str | None = None) -> SendResult:
        """Send a reply written in markdown: converted to the channel's formatting, split at
        ``max_text_len`` on sentence boundaries; ``message_ids`` has one id per part. Where
        ``abilities.confirms_sends``, ``tag`` rides along and comes back in the platform's
        report of the send (ChannelStatus.tag / ChannelEcho.tag).

        If a later part fails, the result is that failure with the ids of the parts already
        sent; an outbox that must never send twice splits first (``formatting.split_text``)
        and keeps one entry per part.
        """
        ...

    async def acknowledge(self, chat_id: str, message_id: str | None) -> SendResult:
        """Mark the person's message read and show typing while the persona thinks."""
        ...

    async def fetch_media(self, attachment: Attachment) -> MediaFile:
        """Download an attachment, refusing types and sizes ``abilities`` does not accept."""
        ...


@runtime_checkable
class ImageSender(Protocol):
    """A channel that sends pictures as real image messages (not links in text)."""

    async def send_image(
        self, chat_id: str, image: OutboundImage, tag: str | None = None
    ) -> SendResult:
        """Upload and send one image with its caption; never raises for platform failures."""
        ...


@runtime_checkable
class VoiceSender(Protocol):
    """A channel that sends audio as a voice note: ``audio`` is a complete file of
    ``mime_type`` lasting ``duration_s``; never raises for platform failures."""

    voice_format: str  # the codec.FORMATS key its platform plays as a voice note

    async def send_voice(
        self, chat_id: str, audio: bytes, mime_type: str, duration_s: float, tag: str | None = None
    ) -> SendResult: ...


@runtime_checkable
class VideoSender(Protocol):
    """A channel that sends a short MP4 (H.264 + AAC) as a video message: ``video`` is a
    complete file of ``mime_type`` lasting ``duration_s``, rendered square at the size of
    its ``video_format``; never raises for platform failures."""

    video_format: str  # the video.render.FORMATS key whose limits its platform takes

    async def send_video(
        self, chat_id: str, video: bytes, mime_type: str, duration_s: float, tag: str | None = None
    ) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """What a channel plugin registers: how to read its connections and build its parts.

    ``connection_model`` validates one entry of the channels file (a frozen pydantic model
    with ``persona`` and a ``key`` property); ``handler`` builds the webhook handler over all
    connections of the kind; ``channel`` builds the sender for one connection; ``check``
    tries one connection's credentials.
    """

    name: str
    connection_model: type[Any]
    abilities: ChannelAbilities
    handler: Callable[[Sequence[Any], Settings], WebhookHandler]
    channel: Callable[[Any, Settings, httpx.AsyncClient], Channel]
    # Checks one connection's credentials against the platform (None: the channel cannot).
    check: Callable[[Any, Settings, httpx.AsyncClient], Awaitable[AccountCheck]] | None = None
