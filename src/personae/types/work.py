"""The work between accept and process: jobs, reply routes, outbox entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from personae.types.persona import VoiceSettings
from personae.types.turns import ConversationRef, StoredMessage

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
class ReadMark:
    """A person's channel message to mark read, with a typing indicator in its chat;
    ``stored_id``: the message's id in the store, which orders a chat's messages as they
    arrived (marks reach the sender in any order)."""

    channel: str
    connection: str
    chat_id: str
    message_id: str
    stored_id: int = 0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One message to send to a channel, written with the reply; ``payload`` is JSON text for
    the delivery worker (route, text part, …)."""

    channel: str
    payload: str


@dataclass(frozen=True, slots=True)
class VideoPlan:
    """A reply to be sent as a short video of the persona saying it: the voice it speaks in,
    its avatar as the persona file gives it (a file path, data: URI or URL) and its name."""

    voice: VoiceSettings
    avatar: str | None = None
    name: str = ""

    def payload(self) -> dict[str, Any]:
        """As it is kept in an outbox row's JSON."""
        return {"voice": self.voice.model_dump(), "avatar": self.avatar, "name": self.name}

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> VideoPlan:
        return cls(VoiceSettings(**data.get("voice", {})), data.get("avatar"), data.get("name", ""))


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
    # The persona's voice when this part is to be sent as a voice note (its text spoken).
    speak: VoiceSettings | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    # A picture part: the media store's file (its SHA-256 and type); ``text`` is its caption.
    image_sha256: str | None = None
    image_mime: str | None = None
    # A video part: its text said by the persona in a rendered video (``speak`` is then None).
    video: VideoPlan | None = None


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
