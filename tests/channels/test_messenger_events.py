"""Every documented Messenger and Instagram webhook event, from realistic signed payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from personae.channels.webhook import sign
from personae.contracts import WebhookRequest
from personae.settings import Settings
from personae.types import (
    Attachment,
    ChannelDeletion,
    ChannelEcho,
    ChannelMessage,
    ChannelReaction,
    ChannelStatus,
)

from .harness import APP_SECRET, HARNESSES, IG_ID, IGSID, PAGE_ID, PSID, fb_envelope, meta_bytes

MESSENGER, INSTAGRAM = HARNESSES[1], HARNESSES[2]
MS = 1458692752478
AT = datetime.fromtimestamp(MS / 1000, UTC)


async def _events(harness: Any, *items: dict[str, Any]) -> tuple[Any, ...]:
    obj = "page" if harness is MESSENGER else "instagram"
    body = meta_bytes(fb_envelope(obj, harness.connection.key, *items))
    handler = harness.spec.handler([harness.connection], Settings())
    request = WebhookRequest("POST", {}, {"x-hub-signature-256": sign(body, APP_SECRET)}, body)
    result = await handler.handle(request)
    assert result.status == 200, result.body
    return result.events


def _in(sender: str, account: str, **event: Any) -> dict[str, Any]:
    return {"sender": {"id": sender}, "recipient": {"id": account}, "timestamp": MS, **event}


def _msg(mid: str, **fields: Any) -> ChannelMessage:
    return ChannelMessage("messenger", PAGE_ID, mid, PSID, PSID, AT, **fields)


async def test_messenger_messages_postbacks_and_attachments() -> None:
    text = {
        "mid": "m_1",
        "text": "hello, world!",
        "quick_reply": {"payload": "DEVELOPER_DEFINED_PAYLOAD"},
        "reply_to": {"mid": "m_0", "is_self_reply": False},
    }
    image = {
        "mid": "m_2",
        "attachments": [
            {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/example.jpg"}}
        ],
    }
    sticker = {
        "mid": "m_3",
        "attachments": [
            {
                "type": "image",
                "payload": {
                    "url": "https://scontent.xx.fbcdn.net/s.png",
                    "sticker_id": 369239263222822,
                },
            }
        ],
    }
    file = {
        "mid": "m_4",
        "text": "the form",
        "attachments": [
            {"type": "file", "payload": {"url": "https://cdn.fbsbx.com/f.pdf"}},
            {"type": "fallback", "payload": {"url": "https://x.y", "title": "X"}},
        ],
    }
    postback = {"mid": "m_5", "title": "Get Started", "payload": "GET_STARTED"}
    events = await _events(
        MESSENGER,
        _in(PSID, PAGE_ID, message=text),
        _in(PSID, PAGE_ID, message=image),
        _in(PSID, PAGE_ID, message=sticker),
        _in(PSID, PAGE_ID, message=file),
        _in(PSID, PAGE_ID, postback=postback),
        _in(PSID, PAGE_ID, optin={"ref": "x"}),  # not a conversation event: ignored
    )
    assert events == (
        _msg("m_1", text="hello, world!", payload="DEVELOPER_DEFINED_PAYLOAD", reply_to="m_0"),
        _msg(
            "m_2", attachments=(Attachment("image", "https://scontent.xx.fbcdn.net/v/example.jpg"),)
        ),
        _msg("m_3", attachments=(Attachment("sticker", "https://scontent.xx.fbcdn.net/s.png"),)),
        _msg(
            "m_4",
            text="the form",
            attachments=(Attachment("document", "https://cdn.fbsbx.com/f.pdf"),),
        ),
        _msg("m_5", text="Get Started", payload="GET_STARTED"),
    )


async def test_messenger_receipts_echoes_reactions_and_edits() -> None:
    mark = datetime.fromtimestamp(1458668856253 / 1000, UTC)
    delivery = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "delivery": {"mids": ["m_A", "m_B"], "watermark": 1458668856253},
    }
    old_delivery = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "delivery": {"watermark": 1458668856253},
    }
    echo = {
        "is_echo": True,
        "app_id": 1517776481860111,
        "metadata": "M",
        "mid": "m_OUT1",
        "text": "hi back",
    }
    events = await _events(
        MESSENGER,
        delivery,
        old_delivery,
        _in(PSID, PAGE_ID, read={"watermark": 1458668856253}),
        _in(PAGE_ID, PSID, message=echo),
        _in(
            PSID,
            PAGE_ID,
            reaction={
                "reaction": "love",
                "emoji": "\u2764\ufe0f",
                "action": "react",
                "mid": "m_OUT1",
            },
        ),
        _in(PSID, PAGE_ID, reaction={"reaction": "love", "action": "unreact", "mid": "m_OUT1"}),
        _in(PSID, PAGE_ID, message_edit={"mid": "m_1", "text": "hello again", "num_edit": 1}),
    )
    entry_time = datetime.fromtimestamp(
        1458692752478 / 1000, UTC
    )  # receipts without their own time
    assert events == (
        ChannelStatus("messenger", PAGE_ID, "delivered", PSID, entry_time, "m_A", mark),
        ChannelStatus("messenger", PAGE_ID, "delivered", PSID, entry_time, "m_B", mark),
        ChannelStatus("messenger", PAGE_ID, "delivered", PSID, entry_time, None, mark),
        ChannelStatus("messenger", PAGE_ID, "read", PSID, AT, None, mark),
        ChannelEcho("messenger", PAGE_ID, "m_OUT1", PSID, "hi back", AT, tag="M"),
        ChannelReaction("messenger", PAGE_ID, "m_OUT1", PSID, "\u2764\ufe0f", AT),
        ChannelReaction("messenger", PAGE_ID, "m_OUT1", PSID, "", AT),
        _msg("m_1#edit1", text="hello again", edit_of="m_1"),
    )


async def test_instagram_messages_echoes_seen_deletions_and_unsupported() -> None:
    image = {
        "mid": "ig_2",
        "attachments": [
            {
                "type": "image",
                "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"},
            }
        ],
    }
    story = {
        "mid": "ig_6",
        "attachments": [
            {"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/story"}}
        ],
    }
    events = await _events(
        INSTAGRAM,
        _in(IGSID, IG_ID, message={"mid": "ig_1", "text": "Hi! Is this in stock?"}),
        _in(IGSID, IG_ID, message=image),
        _in(IG_ID, IGSID, message={"mid": "ig_3", "text": "Yes, it is!", "is_echo": True}),
        _in(IGSID, IG_ID, read={"mid": "ig_3"}),
        _in(IGSID, IG_ID, message={"mid": "ig_1", "is_deleted": True}),
        _in(IGSID, IG_ID, message={"mid": "ig_5", "is_unsupported": True}),
        _in(IGSID, IG_ID, message=story),  # a story mention is a link, not media to answer
        _in(
            IGSID,
            IG_ID,
            reaction={"mid": "ig_3", "action": "react", "reaction": "love", "emoji": "\u2764"},
        ),
    )
    assert events == (
        ChannelMessage("instagram", IG_ID, "ig_1", IGSID, IGSID, AT, "Hi! Is this in stock?"),
        ChannelMessage(
            "instagram",
            IG_ID,
            "ig_2",
            IGSID,
            IGSID,
            AT,
            attachments=(
                Attachment("image", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"),
            ),
        ),
        ChannelEcho("instagram", IG_ID, "ig_3", IGSID, "Yes, it is!", AT),
        ChannelStatus("instagram", IG_ID, "read", IGSID, AT, "ig_3"),
        ChannelDeletion("instagram", IG_ID, "ig_1", IGSID, AT),
        ChannelReaction("instagram", IG_ID, "ig_3", IGSID, "\u2764", AT),
    )


async def test_a_messenger_payload_sent_to_the_instagram_webhook_is_400() -> None:
    body = meta_bytes(
        fb_envelope("page", IG_ID, _in(IGSID, IG_ID, message={"mid": "x", "text": "hi"}))
    )
    handler = INSTAGRAM.spec.handler([INSTAGRAM.connection], Settings())
    request = WebhookRequest("POST", {}, {"x-hub-signature-256": sign(body, APP_SECRET)}, body)
    result = await handler.handle(request)
    assert (result.status, result.events) == (400, ())
    assert "'instagram'" in result.body
