"""A turn job's payload (TurnSpec) and the callables a TurnRunner is wired with."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field

from personae.contracts import Engine
from personae.types import (
    Attachment,
    Contact,
    GenerationOptions,
    Job,
    Location,
    ModelSettings,
    OutboxItem,
    ReplyRoute,
    ResponseFormat,
    StoredMedia,
    StoredMessage,
    TurnContext,
    VideoPlan,
    VoiceSettings,
)

EngineResolver = Callable[[ModelSettings], Awaitable[Engine]]
# The reply's outbox entries for a channel conversation (none for API, web and CLI turns).
# With ``speak`` (the persona's voice) the reply is to be sent as a voice note; with ``video``
# as a video of the persona saying it (where the channel sends video; else by voice or text).
OutboxPlanner = Callable[
    [ReplyRoute, str, VoiceSettings | None, VideoPlan | None], tuple[OutboxItem, ...]
]
# Sends one text to a channel chat right away, outside the outbox: only for the notice after
# a person's data was deleted, which must not be stored (it would be a row about them).
DirectSender = Callable[[ReplyRoute, str], Awaitable[None]]
# The outbox rows of the pictures a reply sends (after its text rows).
PictureOutbox = Callable[[ReplyRoute, Sequence[StoredMedia]], tuple[OutboxItem, ...]]
# Work to do once a turn's reply is stored (memory extraction): records and submits its job.
AfterTurn = Callable[[Job, TurnContext, StoredMessage], Awaitable[None]]
# Hears a channel's voice note before its turn reads the message (also after a crash):
# fetches the audio not stored yet, transcribes it, returns the message text.
HearFirst = Callable[[StoredMessage, ReplyRoute, Sequence[Attachment]], Awaitable[str]]
TURN = "turn"


def one_entry(
    route: ReplyRoute, text: str, speak: VoiceSettings | None = None, video: VideoPlan | None = None
) -> tuple[OutboxItem, ...]:
    """The default plan: the whole reply as one entry (a channel adapter splits it first)."""
    payload: dict[str, object] = {
        "connection": route.connection, "chat_id": route.chat_id, "text": text
    }  # fmt: skip
    if speak is not None:
        payload["speak"] = speak.model_dump()
    if video is not None:
        payload["video"] = video.payload()
    return (OutboxItem(route.channel, json.dumps(payload, ensure_ascii=False)),)


@dataclass(frozen=True, slots=True)
class TurnSpec:
    """A turn job's payload: what the person's stored message does not say."""

    persona: str
    instructions: str = ""
    options: GenerationOptions = field(default_factory=GenerationOptions)
    allow_unpublished: bool = False
    route: ReplyRoute | None = None
    location: Location | None = None
    contacts: tuple[Contact, ...] = ()
    # Attachments recorded (or still being fetched) on the person's message: the turn waits
    # until this many are recorded, or PERSONAE_MEDIA_WAIT_S passed.
    media_count: int = 0
    spoke: bool = False  # the person sent a voice note
    language: str = ""  # the person's language tag as their channel reported it
    # A channel's references to the attachments: what a restart needs to fetch them again.
    fetch: tuple[Attachment, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TurnSpec:
        data = json.loads(text)
        options = data["options"]
        options["stop"] = tuple(options["stop"])
        if fmt := options.get("response_format"):
            options["response_format"] = ResponseFormat(**fmt)
        route = data["route"]
        location = data.get("location")  # absent in jobs recorded before channels had them
        contacts = [{**c, "phones": tuple(c["phones"])} for c in data.get("contacts", ())]
        return cls(
            data["persona"],
            data["instructions"],
            GenerationOptions(**options),
            data["allow_unpublished"],
            ReplyRoute(**route) if route else None,
            Location(**location) if location else None,
            tuple(Contact(**c) for c in contacts),
            data.get("media_count", 0),
            bool(data.get("spoke", False)),  # absent in jobs recorded before voice notes
            str(data.get("language", "")),  # absent in jobs recorded before language tags
            tuple(Attachment(**a) for a in data.get("fetch", ())),
        )


def phone_of(route: ReplyRoute | None) -> str:
    """The person's phone number where their chat id is one (WhatsApp's wa_id)."""
    return route.chat_id if route is not None and route.channel == "whatsapp" else ""
