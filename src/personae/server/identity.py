"""Who a person is: an API client's people live in a namespace of that client's own.

A person is stored as (channel, their id on it). The web chat's people live on "web"; a
messaging connection's on "<kind>:<connection key>" (e.g. "whatsapp:106540352242922"), never
writable through the API. People that an API
client names with `user` are stored on "<api channel>:<client>", e.g. "openai:alpha": the same
`user` from two API keys is two people, and no client can name a channel's people, because a
plain channel name never contains ':' and client names are checked (settings.CLIENT_NAME).
"""

from __future__ import annotations

from personae.server.errors import FieldError
from personae.types import ConversationRef, PersonRef

API_CHANNELS = ("api", "openai")  # what an API client may name: /api's default and /v1's
ADMIN_CLIENT = "admin"  # the admin token is a client of its own
LOCAL_CLIENT = "local"  # an unauthenticated /v1 caller when no API key is configured
_SEPARATOR = ":"
MAX_USER_CHARS = 255  # as /api's `user`: an id, not a document


def header_user(header: str, raw: bytes | None) -> str | None:
    """The person a front end names in a header (PERSONAE_OPENAI_USER_HEADER), None when the
    header is absent or blank; a value that is no sane id is refused, naming the header."""
    if raw is None:
        return None
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise FieldError(
            header, f"header {header} is not UTF-8 text; send the person's id as UTF-8"
        ) from None
    if len(value) > MAX_USER_CHARS:
        raise FieldError(
            header,
            f"header {header} is {len(value)} characters, over the limit of {MAX_USER_CHARS}; "
            "send a short id for the person",
        )
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise FieldError(
            header, f"header {header} contains control characters; send a plain id for the person"
        )
    return value or None


def api_person(channel: str, client: str, user: str) -> PersonRef:
    """The person `user` of `client` on one of the API's channels."""
    if channel not in API_CHANNELS:
        raise FieldError(
            "channel",
            f"channel {channel!r} is not an API channel: an API client may only open "
            "conversations on 'api' or 'openai' (its own people); people of the web chat and "
            "of other channels are reachable only through those channels",
        )
    return PersonRef(f"{channel}{_SEPARATOR}{client}", user)


def split_channel(stored: str) -> tuple[str, str | None]:
    """A stored channel as (channel, client): ("openai", "alpha"), ("web", None), or for a
    messaging connection's people ("whatsapp:<phone number id>", None): only an API channel
    names a client; after ':' elsewhere comes the connection, not a client."""
    channel, separator, client = stored.partition(_SEPARATOR)
    if separator and channel in API_CHANNELS:
        return channel, client
    return stored, None


def belongs_to(conversation: ConversationRef, client: str) -> bool:
    """Whether `client` may write into the conversation: only into its own people's."""
    channel, owner = split_channel(conversation.channel)
    return owner == client and channel in API_CHANNELS
