"""Platform error replies classified by their documented codes, malformed payloads, media
failures and payloads signed by another app, against the loopback platform server."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from personae.channels.telegram import TelegramChannel
from personae.channels.webhook import sign
from personae.channels.whatsapp import WhatsAppChannel, WhatsAppWebhook
from personae.contracts import WebhookRequest
from personae.settings import Settings
from personae.types import Attachment, SendResult

from .harness import APP_SECRET, HARNESSES, PHONE_ID, WA_USER, meta_bytes, wa_messages
from .platform import PlatformServer, Reply, graph_error, telegram_error

WHATSAPP, MESSENGER, INSTAGRAM, TELEGRAM = HARNESSES
OUTSIDE = "(#10) This message is sent outside of allowed window."


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (graph_error(400, 131047, "Re-engagement message"), SendResult("permanent", code="131047")),
        (graph_error(400, 130429, "Rate limit hit"), SendResult("retryable", (), 5.0, "130429")),
        (
            graph_error(400, 131056, "Pair rate limit"),
            SendResult("retryable", (), 6.0, "131056"),
        ),
        (
            graph_error(403, 130403, "Blocked the user"),
            SendResult("permanent", code="130403"),
        ),
        (graph_error(503, 131016, "Service unavailable"), SendResult("retryable", code="131016")),
    ],
)
async def test_whatsapp_error_codes(
    platform: PlatformServer, http: httpx.AsyncClient, reply: Reply, expected: SendResult
) -> None:
    channel = WhatsAppChannel(WHATSAPP.connection, WHATSAPP.settings(platform.url), http)
    platform.fail_next.append(reply)
    result = await channel.send(WA_USER, "hola")
    assert (result.outcome, result.retry_after, result.code) == (
        expected.outcome, expected.retry_after, expected.code,
    )  # fmt: skip
    assert result.error  # the platform's message, kept for the record


async def test_outside_the_window_on_messenger_is_permanent_with_the_subcode(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    channel = MESSENGER.spec.channel(MESSENGER.connection, MESSENGER.settings(platform.url), http)
    platform.fail_next.append(graph_error(400, 10, OUTSIDE, error_subcode=2018278))
    result = await channel.send(MESSENGER.sender, "hello")
    assert (result.outcome, result.code) == ("permanent", "10")
    assert result.error == f"{OUTSIDE} (subcode 2018278)"


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (telegram_error(403, "Forbidden: bot was blocked by the user"), "permanent"),
        (telegram_error(400, "Bad Request: chat not found"), "permanent"),
        (telegram_error(429, "Too Many Requests: retry after 3", 3), "retryable"),
    ],
)
async def test_telegram_error_replies(
    platform: PlatformServer, http: httpx.AsyncClient, reply: Reply, outcome: str
) -> None:
    channel = TelegramChannel(TELEGRAM.connection, TELEGRAM.settings(platform.url), http)
    platform.fail_next.append(reply)
    result = await channel.send(TELEGRAM.sender, "hola")
    assert result.outcome == outcome and result.error == json.loads(reply[2])["description"]


async def test_a_failure_after_the_first_part_reports_the_parts_already_sent(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    channel = WhatsAppChannel(WHATSAPP.connection, WHATSAPP.settings(platform.url), http)
    first = {"messaging_product": "whatsapp", "messages": [{"id": "wamid.P1"}]}
    platform.fail_next += [
        (200, {"Content-Type": "application/json"}, json.dumps(first).encode()),
        graph_error(500, 2, "unexpected", is_transient=True),
    ]
    result = await channel.send(WA_USER, "First sentence here. " * 300)
    assert (result.outcome, result.message_ids) == ("retryable", ("wamid.P1",))


def _wa(**message: object) -> bytes:
    return meta_bytes(wa_messages({"from": WA_USER, "id": "x", "timestamp": "1", **message}))


_PAGE = MESSENGER.connection.key
_LATE = {"sender": {"id": "1"}, "timestamp": "late", "message": {"mid": "m", "text": "x"}}
_PHOTO = {"message_id": 1, "chat": {"id": 5}, "date": 1, "photo": [{"width": 1}]}
MALFORMED = {
    "wa-location-without-latitude": (WHATSAPP, _wa(type="location", location={"longitude": 1.0})),
    "wa-bad-timestamp": (WHATSAPP, _wa(type="text", timestamp="soon", text={"body": "hi"})),
    "messenger-bad-timestamp": (
        MESSENGER,
        meta_bytes({"object": "page", "entry": [{"id": _PAGE, "messaging": [_LATE]}]}),
    ),
    "tg-photo-without-file-id": (
        TELEGRAM,
        json.dumps({"update_id": 1, "message": _PHOTO}).encode(),
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_field_deep_inside_is_400_not_a_crash(case: str) -> None:
    harness, body = MALFORMED[case]
    handler = harness.spec.handler([harness.connection], Settings())
    headers = {k.lower(): v for k, v in harness.headers(body).items()}
    result = await handler.handle(WebhookRequest("POST", {}, headers, body, "ana-bot"))
    assert (result.status, result.events) == (400, ())


async def test_a_payload_signed_by_another_app_does_not_reach_this_number() -> None:
    other = WHATSAPP.connection.model_copy(
        update={"phone_number_id": "222", "app_secret": SecretStr("other-app-secret")}
    )
    handler = WhatsAppWebhook([WHATSAPP.connection, other], Settings())
    msg = {"from": WA_USER, "id": "x", "timestamp": "1", "type": "text", "text": {"body": "hi"}}
    body = meta_bytes(wa_messages(msg, phone_id=PHONE_ID))
    signed_by_other = {"x-hub-signature-256": sign(body, "other-app-secret")}
    result = await handler.handle(WebhookRequest("POST", {}, signed_by_other, body))
    assert (result.status, result.events) == (200, ())
    signed_right = {"x-hub-signature-256": sign(body, APP_SECRET)}
    assert len((await handler.handle(WebhookRequest("POST", {}, signed_right, body))).events) == 1


async def test_whatsapp_media_failures(platform: PlatformServer, http: httpx.AsyncClient) -> None:
    channel = WhatsAppChannel(WHATSAPP.connection, WHATSAPP.settings(platform.url), http)
    unknown = await channel.fetch_media(Attachment("image", "no-such-id", "image/jpeg"))
    assert unknown.outcome == "permanent"
    assert (unknown.error or "").startswith("Unsupported get request. Object with ID 'no-such-id'")
    assert (unknown.error or "").endswith("(subcode 33)")
    platform.media["m9"] = ("image/jpeg", b"jpeg")
    # The media URL lives 5 minutes; an expired one answers 404, worth fetching afresh.
    expired = {"url": f"{platform.url}/wa-media/gone", "mime_type": "image/jpeg", "file_size": "4"}
    platform.fail_next.append(
        (200, {"Content-Type": "application/json"}, json.dumps(expired).encode())
    )
    result = await channel.fetch_media(Attachment("image", "m9", "image/jpeg"))
    assert (result.outcome, result.error) == ("retryable", "download answered HTTP 404")
    early = await channel.fetch_media(Attachment("image", "m9", "image/jpeg", size=6 * 1024 * 1024))
    assert early.outcome == "refused" and len(platform.seen) == 3  # refused without a request


async def test_telegram_resends_as_plain_text_when_it_cannot_parse_the_html(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    channel = TelegramChannel(TELEGRAM.connection, TELEGRAM.settings(platform.url), http)
    platform.fail_next.append(
        telegram_error(400, "Bad Request: can't parse entities: unexpected end tag at byte 9")
    )
    result = await channel.send(TELEGRAM.sender, "a **b** c")
    assert result.outcome == "sent" and len(result.message_ids) == 1
    assert platform.sent("/sendMessage") == [
        {"chat_id": TELEGRAM.sender, "text": "a <b>b</b> c", "parse_mode": "HTML"},
        {"chat_id": TELEGRAM.sender, "text": "a b c"},
    ]
