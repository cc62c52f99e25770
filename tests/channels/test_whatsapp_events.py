"""Every documented WhatsApp webhook event, from realistic signed payloads, normalised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from personae.channels.webhook import sign
from personae.channels.whatsapp import WhatsAppWebhook
from personae.contracts import WebhookRequest
from personae.settings import Settings
from personae.types import (
    Attachment,
    ChannelDeletion,
    ChannelMessage,
    ChannelReaction,
    ChannelStatus,
    Contact,
    Location,
)

from .harness import APP_SECRET, HARNESSES, PHONE_ID, WA_USER, meta_bytes, wa_envelope, wa_messages

CONNECTION = HARNESSES[0].connection


def _msg(mid: str, kind: str, body: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    msg = {"from": WA_USER, "id": mid, "timestamp": "1744344496", "type": kind, **extra}
    if body is not None:
        msg[kind] = body
    return msg


async def _events(payload: dict[str, Any]) -> tuple[Any, ...]:
    body = meta_bytes(payload)
    handler = WhatsAppWebhook([CONNECTION], Settings())
    request = WebhookRequest("POST", {}, {"x-hub-signature-256": sign(body, APP_SECRET)}, body)
    result = await handler.handle(request)
    assert result.status == 200, result.body
    return result.events


AT = datetime.fromtimestamp(1744344496, UTC)


def _message(mid: str, **fields: Any) -> ChannelMessage:
    fields.setdefault("sender_name", "Sheena Nelson")
    return ChannelMessage("whatsapp", PHONE_ID, mid, WA_USER, WA_USER, AT, **fields)


async def test_every_message_type_is_normalised() -> None:
    contact = {
        "name": {"formatted_name": "John Doe", "first_name": "John"},
        "phones": [{"phone": "+1 650 555 1234", "wa_id": "16505551234", "type": "CELL"}],
    }
    messages = [
        _msg(
            "w1",
            "text",
            {"body": "Is this still available?"},
            context={"from": "15550783881", "id": "wamid.Q"},
        ),
        _msg(
            "w2",
            "image",
            {
                "caption": "Taj Mahal",
                "mime_type": "image/jpeg",
                "sha256": "S=",
                "id": "1003383421387256",
            },
        ),
        _msg(
            "w3",
            "audio",
            {"mime_type": "audio/ogg; codecs=opus", "sha256": "m=", "id": "123", "voice": True},
        ),
        _msg(
            "w4",
            "video",
            {"caption": "caption", "mime_type": "video/mp4", "sha256": "J=", "id": "765756756"},
        ),
        _msg(
            "w5",
            "document",
            {
                "caption": "invoice",
                "filename": "filename.pdf",
                "mime_type": "application/pdf",
                "sha256": "g=",
                "id": "987",
            },
        ),
        _msg(
            "w6",
            "sticker",
            {"mime_type": "image/webp", "sha256": "O=", "id": "555", "animated": False},
        ),
        _msg(
            "w7",
            "location",
            {
                "address": "101 Forest Ave, Palo Alto, CA 94301",
                "latitude": 37.44221496582,
                "longitude": -122.16165924072,
                "name": "Philz Coffee",
                "url": "https://philzcoffee.com/",
            },
        ),
        _msg("w8", "contacts", contacts=[contact]),
        _msg(
            "w9",
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "cancel-button", "title": "Cancel"}},
        ),
        _msg(
            "w10",
            "interactive",
            {
                "type": "list_reply",
                "list_reply": {
                    "id": "priority_express",
                    "title": "Priority Mail Express",
                    "description": "Next Day",
                },
            },
        ),
        _msg("w11", "button", {"payload": "Unsubscribe", "text": "Unsubscribe"}),
        _msg(
            "w12",
            "edit",
            {
                "original_message_id": "w1",
                "message": {"type": "text", "text": {"body": "Still available?"}},
            },
        ),
    ]
    events = await _events(wa_messages(*messages))
    assert events == (
        _message("w1", text="Is this still available?", reply_to="wamid.Q"),
        _message(
            "w2",
            text="Taj Mahal",
            attachments=(Attachment("image", "1003383421387256", "image/jpeg", sha256="S="),),
        ),
        _message(
            "w3",
            attachments=(
                Attachment("audio", "123", "audio/ogg; codecs=opus", sha256="m=", voice=True),
            ),
        ),
        _message(
            "w4",
            text="caption",
            attachments=(Attachment("video", "765756756", "video/mp4", sha256="J="),),
        ),
        _message(
            "w5",
            text="invoice",
            attachments=(
                Attachment(
                    "document", "987", "application/pdf", filename="filename.pdf", sha256="g="
                ),
            ),
        ),
        _message("w6", attachments=(Attachment("sticker", "555", "image/webp", sha256="O="),)),
        _message(
            "w7",
            location=Location(
                37.44221496582,
                -122.16165924072,
                "Philz Coffee",
                "101 Forest Ave, Palo Alto, CA 94301",
                "https://philzcoffee.com/",
            ),
        ),
        _message("w8", contacts=(Contact("John Doe", ("16505551234",)),)),
        _message("w9", text="Cancel", payload="cancel-button"),
        _message("w10", text="Priority Mail Express", payload="priority_express"),
        _message("w11", text="Unsubscribe", payload="Unsubscribe"),
        _message("w12", text="Still available?", edit_of="w1"),
    )


async def test_reactions_deletions_and_unhandled_types_update_state_without_messages() -> None:
    error = {"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}
    system = {"body": "User changed number", "wa_id": "12195555358", "type": "user_changed_number"}
    messages = [
        _msg("r1", "reaction", {"message_id": "wamid.OUT1", "emoji": "\U0001f44d"}),
        _msg("r2", "reaction", {"message_id": "wamid.OUT1"}),  # removed: no emoji key
        _msg("d1", "revoke", {"original_message_id": "w1"}),
        _msg("u1", "unsupported", errors=[error]),
        _msg("s1", "system", system),
    ]
    events = await _events(wa_messages(*messages))
    assert events == (
        ChannelReaction("whatsapp", PHONE_ID, "wamid.OUT1", WA_USER, "\U0001f44d", AT),
        ChannelReaction("whatsapp", PHONE_ID, "wamid.OUT1", WA_USER, "", AT),
        ChannelDeletion("whatsapp", PHONE_ID, "w1", WA_USER, AT),
    )


async def test_statuses_carry_their_state_and_failure_codes() -> None:
    details = (
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number."
    )
    statuses = [
        {
            "id": "wamid.OUT1",
            "status": "sent",
            "timestamp": "1750030073",
            "recipient_id": WA_USER,
            "pricing": {
                "billable": True,
                "pricing_model": "PMP",
                "type": "regular",
                "category": "marketing",
            },
        },
        {
            "id": "wamid.OUT1",
            "status": "delivered",
            "timestamp": "1750030075",
            "recipient_id": WA_USER,
        },
        {"id": "wamid.OUT1", "status": "read", "timestamp": "1750030090", "recipient_id": WA_USER},
        {
            "id": "wamid.OUT2",
            "status": "failed",
            "timestamp": "1751142888",
            "recipient_id": WA_USER,
            "errors": [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": details},
                }
            ],
        },
    ]
    events = await _events(wa_envelope({"statuses": statuses}))
    at = [datetime.fromtimestamp(t, UTC) for t in (1750030073, 1750030075, 1750030090, 1751142888)]
    assert events == (
        ChannelStatus("whatsapp", PHONE_ID, "sent", WA_USER, at[0], "wamid.OUT1"),
        ChannelStatus("whatsapp", PHONE_ID, "delivered", WA_USER, at[1], "wamid.OUT1"),
        ChannelStatus("whatsapp", PHONE_ID, "read", WA_USER, at[2], "wamid.OUT1"),
        ChannelStatus(
            "whatsapp",
            PHONE_ID,
            "failed",
            WA_USER,
            at[3],
            "wamid.OUT2",
            error_code="131047",
            error_message=details,
        ),
    )


async def test_every_entry_and_change_of_a_batch_is_read_and_other_fields_are_skipped() -> None:
    first = wa_messages(_msg("b1", "text", {"body": "one"}))
    second = wa_messages(_msg("b2", "text", {"body": "two"}))
    other = {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
    first["entry"][0]["changes"].append(other)
    first["entry"].append(second["entry"][0])
    events = await _events(first)
    assert [e.message_id for e in events] == ["b1", "b2"]
