"""What messaging platforms bring in and what a send returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

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
    sender_language: str | None = None  # the sender's language tag (Telegram's language_code)
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
    # What the sender attached to the send and the platform echoes back (WhatsApp's
    # biz_opaque_callback_data): names the outbox row even when its send's answer was lost.
    tag: str | None = None


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
    tag: str | None = None  # Messenger's message.metadata, echoed as it was sent


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
