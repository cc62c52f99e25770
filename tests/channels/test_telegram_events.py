"""Telegram updates of every handled kind, the ones ignored safely, and long polling."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from personae.channels.telegram import TelegramChannel
from personae.contracts import WebhookRequest
from personae.settings import Settings
from personae.types import Attachment, ChannelMessage, ChannelReaction, Contact, Location

from .harness import BOT, HARNESSES, TG_CHAT, TG_SECRET
from .platform import PlatformServer, telegram_error

TELEGRAM = HARNESSES[3]
DATE = 1701813520
AT = datetime.fromtimestamp(DATE, UTC)
ANA = {
    "id": TG_CHAT,
    "is_bot": False,
    "first_name": "Ana",
    "last_name": "Ruiz",
    "language_code": "en",
}
CHAT = {"id": TG_CHAT, "first_name": "Ana", "type": "private"}


def _update(n: int, **fields: Any) -> dict[str, Any]:
    message = {"message_id": n, "from": ANA, "chat": CHAT, "date": DATE, **fields}
    return {"update_id": 147759300 + n, "message": message}


async def _events(update: dict[str, Any]) -> tuple[Any, ...]:
    handler = TELEGRAM.spec.handler([TELEGRAM.connection], Settings())
    headers = {"x-telegram-bot-api-secret-token": TG_SECRET}
    result = await handler.handle(
        WebhookRequest("POST", {}, headers, json.dumps(update).encode(), BOT)
    )
    assert result.status == 200, result.body
    return result.events


def _msg(n: int, **fields: Any) -> ChannelMessage:
    chat = str(TG_CHAT)
    return ChannelMessage(
        "telegram", BOT, f"{chat}:{n}", chat, chat, AT, sender_name="Ana Ruiz",
        sender_language="en", **fields,
    )  # fmt: skip


async def test_message_kinds_are_normalised() -> None:
    photo = [
        {"file_id": "small", "file_unique_id": "a", "file_size": 914, "width": 90, "height": 51},
        {
            "file_id": "large",
            "file_unique_id": "c",
            "file_size": 50145,
            "width": 800,
            "height": 450,
        },
    ]
    voice = {
        "duration": 24,
        "mime_type": "audio/ogg",
        "file_id": "voice1",
        "file_unique_id": "v",
        "file_size": 94966,
    }
    document = {
        "file_name": "menu.pdf",
        "mime_type": "application/pdf",
        "file_id": "doc1",
        "file_unique_id": "d",
        "file_size": 1200,
    }
    sticker = {
        "file_id": "st1",
        "file_unique_id": "s",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "file_size": 20000,
    }
    venue = {
        "location": {"latitude": 40.4, "longitude": -3.7},
        "title": "Prado",
        "address": "Paseo del Prado",
    }
    contact = {"phone_number": "+34600000000", "first_name": "Luis", "user_id": 777}
    cases = [
        (
            _update(1, text="/start", entities=[{"offset": 0, "length": 6, "type": "bot_command"}]),
            _msg(1, text="/start"),
        ),
        (
            _update(2, photo=photo, caption="is this one ok?"),
            _msg(
                2,
                text="is this one ok?",
                attachments=(Attachment("image", "large", "image/jpeg", 50145),),
            ),
        ),
        (
            _update(3, voice=voice),
            _msg(3, attachments=(Attachment("audio", "voice1", "audio/ogg", 94966, voice=True),)),
        ),
        (
            _update(4, document=document),
            _msg(
                4,
                attachments=(
                    Attachment("document", "doc1", "application/pdf", 1200, filename="menu.pdf"),
                ),
            ),
        ),
        (
            _update(5, sticker=sticker),
            _msg(5, attachments=(Attachment("sticker", "st1", "image/webp", 20000),)),
        ),
        (
            _update(6, location={"latitude": 40.4, "longitude": -3.7}),
            _msg(6, location=Location(40.4, -3.7)),
        ),
        (
            _update(7, venue=venue, location=venue["location"]),
            _msg(7, location=Location(40.4, -3.7, "Prado", "Paseo del Prado")),
        ),
        (
            _update(8, contact=contact),
            _msg(8, contacts=(Contact("Luis", ("+34600000000",), "777"),)),
        ),
        (
            _update(9, text="yes", reply_to_message={"message_id": 1, "chat": CHAT, "date": DATE}),
            _msg(9, text="yes", reply_to=f"{TG_CHAT}:1"),
        ),
    ]
    for update, expected in cases:
        assert await _events(update) == (expected,)


async def test_the_senders_language_code_is_kept_and_a_bad_one_dropped() -> None:
    """Telegram's from.language_code (an IETF tag) is the person's locale for the crisis
    protocol; a value of the wrong type is dropped, not trusted."""
    for code, kept in (("pt-br", "pt-br"), (7, None), (None, None)):
        sender = {**ANA, "language_code": code}
        update = _update(9, text="oi")
        update["message"]["from"] = sender
        [event] = await _events(update)
        assert isinstance(event, ChannelMessage) and event.sender_language == kept


async def test_edits_reactions_and_other_updates() -> None:
    edited = {
        "update_id": 147759400,
        "edited_message": {
            "message_id": 1,
            "from": ANA,
            "chat": CHAT,
            "date": DATE,
            "edit_date": DATE + 5,
            "text": "/start now",
        },
    }
    events = await _events(edited)
    assert events == (
        ChannelMessage(
            "telegram",
            BOT,
            f"{TG_CHAT}:1:{DATE + 5}",
            str(TG_CHAT),
            str(TG_CHAT),
            AT,
            "/start now",
            sender_name="Ana Ruiz",
            sender_language="en",
            edit_of=f"{TG_CHAT}:1",
        ),
    )
    reaction = {
        "update_id": 147759401,
        "message_reaction": {
            "chat": CHAT,
            "message_id": 42,
            "user": ANA,
            "date": DATE,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "\U0001f44d"}],
        },
    }
    assert await _events(reaction) == (
        ChannelReaction("telegram", BOT, f"{TG_CHAT}:42", str(TG_CHAT), "\U0001f44d", AT),
    )
    callback = {
        "update_id": 147759402,
        "callback_query": {"id": "1", "from": ANA, "chat_instance": "x", "data": "d"},
    }
    assert await _events(callback) == ()


async def test_an_update_without_update_id_is_400() -> None:
    handler = TELEGRAM.spec.handler([TELEGRAM.connection], Settings())
    headers = {"x-telegram-bot-api-secret-token": TG_SECRET}
    result = await handler.handle(WebhookRequest("POST", {}, headers, b'{"message": {}}', BOT))
    assert (result.status, result.events) == (400, ())
    assert "update_id" in result.body


async def test_long_polling_returns_events_and_confirms_them_with_the_next_offset(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    platform.updates = [_update(1, text="one"), _update(2, text="two")]
    channel = TelegramChannel(TELEGRAM.connection, TELEGRAM.settings(platform.url), http)
    events, offset, result = await channel.poll(None, poll_s=0)
    assert result.outcome == "sent" and [e.text for e in events] == ["one", "two"]
    assert offset == 147759303
    events, offset, _ = await channel.poll(offset, poll_s=0)
    assert (events, offset) == ([], 147759303)
    assert platform.sent("/getUpdates") == [
        {"timeout": 0, "allowed_updates": ["message", "edited_message", "message_reaction"]},
        {
            "timeout": 0,
            "allowed_updates": ["message", "edited_message", "message_reaction"],
            "offset": 147759303,
        },
    ]
    platform.fail_next.append(
        telegram_error(409, "Conflict: can't use getUpdates method while webhook is active")
    )
    events, same, failed = await channel.poll(offset, poll_s=0)
    assert (events, same, failed.outcome, failed.code) == ([], offset, "permanent", "409")
