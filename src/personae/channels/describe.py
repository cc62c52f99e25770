"""A channel message as the text of a turn: what the persona reads until it can see media.

The persona must answer honestly about what it received, so every attachment, location and
contact card becomes a short bracketed line; a caption stays the text. A file the channel
would refuse (type or size, as the platform announced it) is said to be one the persona
cannot open, so it can answer politely instead of pretending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from personae.channels.delivery import refuse_early
from personae.types import Attachment, ChannelMessage, Contact, Location

_NOUNS = {
    "image": "a photo",
    "audio": "an audio message",
    "video": "a video",
    "document": "a document",
    "sticker": "a sticker",
}


def turn_text(message: ChannelMessage, limits: Mapping[str, int]) -> str:
    """The message text followed by one line per attachment, location and contact."""
    lines = [clean(message.text)] if message.text.strip() else []
    lines += [attachment_line(a, limits) for a in message.attachments]
    if message.location is not None:
        lines.append(location_line(message.location))
    lines += [contact_line(c) for c in message.contacts]
    if not lines and message.payload:
        lines.append(clean(message.payload))
    return "\n".join(lines) or "[The person sent a message with no content I can read]"


def attachment_line(attachment: Attachment, limits: Mapping[str, int]) -> str:
    noun = "a voice message" if attachment.voice else _NOUNS[attachment.kind]
    details = [d for d in (attachment.mime_type, _size(attachment.size)) if d]
    if attachment.filename:
        details.insert(0, repr(clean(attachment.filename)))
    said = f"[The person sent {noun}" + (f" ({', '.join(details)})" if details else "")
    refused = refuse_early(limits, attachment.mime_type, attachment.size)
    if refused is not None:
        return f"{said}, which I cannot open here: {refused.error}]"
    if attachment.kind in ("image", "sticker"):
        return f"{said}]"  # shown to a model that sees; core/seeing.py notes it otherwise
    return f"{said}; I cannot see or hear its content yet]"


def location_line(location: Location) -> str:
    where = f"{location.latitude:.5f}, {location.longitude:.5f}"
    named = ", ".join(clean(p) for p in (location.name, location.address) if p)
    return f"[The person shared a location: {named + ' at ' if named else ''}{where}]"


def contact_line(contact: Contact) -> str:
    phones = f" ({', '.join(contact.phones)})" if contact.phones else ""
    return f"[The person shared a contact card: {clean(contact.name)}{phones}]"


def clean_location(location: Location | None) -> Location | None:
    if location is None:
        return None
    return replace(
        location,
        name=_maybe(location.name),
        address=_maybe(location.address),
        url=_maybe(location.url),
    )


def _maybe(text: str | None) -> str | None:
    return clean(text) if text else text


def clean_contacts(contacts: tuple[Contact, ...]) -> tuple[Contact, ...]:
    return tuple(
        Contact(clean(c.name), tuple(clean(p) for p in c.phones), c.user_id and clean(c.user_id))
        for c in contacts
    )


def clean(text: str) -> str:
    """Lone surrogates (JSON may spell them) become '?': the store writes UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _size(size: int | None) -> str | None:
    if size is None:
        return None
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, size // 1024)} KB"
