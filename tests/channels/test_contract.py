"""One contract suite, run against every built-in channel adapter over real HTTP: webhooks
through a served app, sends to the loopback platform server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from personae.contracts import Channel
from personae.types import Attachment, ChannelMessage

from .conftest import WebhookApp
from .harness import HARNESSES, VERIFY_TOKEN, Harness
from .platform import PlatformServer, graph_error, telegram_error

pytestmark = pytest.mark.parametrize("harness", HARNESSES, ids=[h.name for h in HARNESSES])


@pytest.fixture
def hook(harness: Harness, webhook_app: tuple[WebhookApp, str], platform: PlatformServer) -> Any:
    """Post to the harness's webhook; returns (status, text, events)."""
    app, base = webhook_app
    app.handlers[harness.name] = harness.spec.handler(
        [harness.connection], harness.settings(platform.url)
    )

    async def call(
        method: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        path: str | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, str, tuple[Any, ...]]:
        before = len(app.results)
        async with httpx.AsyncClient() as client:
            response = await client.request(
                method,
                base + (path or harness.webhook_path),
                content=body,
                headers=headers or {},
                params=params,
            )
        events = app.results[-1].events if len(app.results) > before else ()
        return response.status_code, response.text, events

    return call


@pytest.fixture
def channel(harness: Harness, platform: PlatformServer, http: httpx.AsyncClient) -> Channel:
    return harness.spec.channel(harness.connection, harness.settings(platform.url), http)


# ---------------------------------------------------------------- inbound


async def test_a_signed_text_message_becomes_one_event(harness: Harness, hook: Any) -> None:
    body = harness.text_update("¿Qué tal? ñandú 👍 https://a.b/c", "5001")
    status, _, events = await hook("POST", body, harness.headers(body))
    assert status == 200
    [event] = events
    assert isinstance(event, ChannelMessage)
    assert (event.channel, event.connection) == (harness.name, harness.connection.key)
    assert event.text == "¿Qué tal? ñandú 👍 https://a.b/c"
    assert event.message_id == harness.message_id("5001")
    assert event.sender_id == event.chat_id == harness.sender
    assert event.sent_at.tzinfo is not None


@pytest.mark.parametrize("fault", ["missing", "wrong", "tampered"])
async def test_a_bad_signature_or_secret_is_403_with_no_events(
    harness: Harness, hook: Any, fault: str
) -> None:
    body = harness.text_update("hola", "5002")
    headers = {} if fault == "missing" else harness.headers(body, good=fault != "wrong")
    if fault == "tampered":
        if not harness.meta:
            pytest.skip("Telegram does not sign bodies; its secret header is checked above")
        body = body.replace(b"hola", b"HOLA")  # signed before the change
    status, _, events = await hook("POST", body, headers)
    assert (status, events) == (403, ())


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"entry": "x"}'])
async def test_a_signed_body_of_the_wrong_shape_is_400(
    harness: Harness, hook: Any, body: bytes
) -> None:
    status, text, events = await hook("POST", body, harness.headers(body))
    assert (status, events) == (400, ())
    assert "not a" in text


async def test_the_meta_handshake_echoes_the_challenge_only_for_a_matching_token(
    harness: Harness, hook: Any
) -> None:
    good = {
        "hub.mode": "subscribe",
        "hub.challenge": "1158201444",
        "hub.verify_token": VERIFY_TOKEN,
    }
    status, text, _ = await hook("GET", params=good)
    if not harness.meta:  # Telegram has no handshake: setWebhook registers the URL
        assert status == 405
        return
    assert (status, text) == (200, "1158201444")
    for bad in ({**good, "hub.verify_token": "guess"}, {**good, "hub.mode": "unsubscribe"}, {}):
        status, text, _ = await hook("GET", params=bad)
        assert status == 403 and "1158201444" not in text


async def test_events_for_an_unknown_account_are_acknowledged_and_dropped(
    harness: Harness, hook: Any
) -> None:
    if harness.meta:
        body = harness.text_update("hola", "5003", account="999999999")
        status, _, events = await hook("POST", body, harness.headers(body))
        assert (status, events) == (200, ())
    else:  # a bot is named by the URL; an unknown name is an address that does not exist
        body = harness.text_update("hola", "5003")
        status, _, events = await hook(
            "POST", body, harness.headers(body), path="/webhooks/telegram/nobody"
        )
        assert (status, events) == (404, ())


# ---------------------------------------------------------------- outbound


async def test_send_formats_the_markdown_and_returns_the_platform_id(
    harness: Harness, channel: Channel, platform: PlatformServer
) -> None:
    result = await channel.send(harness.sender, "Hi **there**, see `x<y`.")
    assert result.outcome == "sent" and len(result.message_ids) == 1 and result.message_ids[0]
    formatted = {
        "whatsapp": "Hi *there*, see `x<y`.",
        "telegram": "Hi <b>there</b>, see <code>x&lt;y</code>.",
    }.get(harness.name, "Hi there, see x<y.")
    assert platform.sent(harness.send_suffix) == [harness.send_body(harness.sender, formatted)]
    auth = platform.seen[-1].headers.get("authorization", "")
    assert auth.startswith("Bearer ") if harness.meta else auth == ""


async def test_a_long_reply_is_split_on_sentences_at_the_channel_limit(
    harness: Harness, channel: Channel, platform: PlatformServer
) -> None:
    limit = channel.abilities.max_text_len
    sentence = "This sentence is exactly fifty characters long ok. "
    text = sentence * (2 * limit // len(sentence) + 3)
    result = await channel.send(harness.sender, text)
    bodies = platform.sent(harness.send_suffix)
    assert result.outcome == "sent" and len(result.message_ids) == len(bodies) >= 3
    parts = [
        b["text"]["body"]
        if "text" in b and isinstance(b["text"], dict)
        else b["text"]
        if "text" in b
        else b["message"]["text"]
        for b in bodies
    ]
    assert all(len(p) <= limit for p in parts)
    assert all(p.endswith("ok.") for p in parts)
    assert " ".join(parts) == text.strip()


@pytest.mark.parametrize("kind", ["rate", "server", "hang", "token"])
async def test_send_failures_are_classified(
    harness: Harness, channel: Channel, platform: PlatformServer, kind: str
) -> None:
    if kind == "rate":
        platform.fail_next.append(
            graph_error(429, 4, "(#4) Application request limit reached", retry_after=17)
            if harness.meta
            else telegram_error(429, "Too Many Requests: retry after 17", 17)
        )
    elif kind == "server":
        platform.fail_next.append(
            graph_error(500, 2, "An unexpected error has occurred.", is_transient=True)
            if harness.meta
            else telegram_error(502, "Bad Gateway")
        )
    elif kind == "hang":
        platform.fail_next.append("hang")
        # A client that gives up soon, as the product's does after its timeout.
        quick = httpx.AsyncClient(timeout=0.5)
        channel = harness.spec.channel(harness.connection, harness.settings(platform.url), quick)
    else:
        platform.fail_next.append(
            graph_error(401, 190, "Error validating access token", error_subcode=463)
            if harness.meta
            else telegram_error(401, "Unauthorized")
        )
    result = await channel.send(harness.sender, "hello")
    expected = {
        "rate": "retryable",
        "server": "retryable",
        "hang": "retryable",
        "token": "permanent",
    }[kind]
    assert result.outcome == expected and result.message_ids == ()
    if kind == "rate":
        assert result.retry_after == 17
    if kind == "token":
        assert result.code == ("190" if harness.meta else "401") and result.error
    if kind == "hang":
        assert result.code == "timeout"
        await quick.aclose()


async def test_acknowledge_marks_read_and_shows_typing(
    harness: Harness, channel: Channel, platform: PlatformServer
) -> None:
    mid = harness.message_id("wamid.IN1" if harness.name == "whatsapp" else "5004")
    result = await channel.acknowledge(harness.sender, mid)
    assert result.outcome == "sent"
    suffix = "/sendChatAction" if not harness.meta else harness.send_suffix
    assert platform.sent(suffix) == harness.ack_bodies(harness.sender, mid)


def _media(
    harness: Harness, platform: PlatformServer, key: str, mime: str, data: bytes
) -> Attachment:
    if harness.meta and harness.name != "whatsapp":  # Messenger and Instagram send a CDN URL
        platform.media[key] = (mime, data)
        return Attachment("image", f"{platform.url}/cdn/{key}")
    platform.media[key] = (mime, data)
    return Attachment("image", key, mime)


async def test_media_is_downloaded_within_the_limits(
    harness: Harness, channel: Channel, platform: PlatformServer
) -> None:
    data = b"\xff\xd8\xff" + b"j" * 1000
    got = await channel.fetch_media(_media(harness, platform, "m1", "image/jpeg", data))
    assert (got.outcome, got.data, got.mime_type) == ("ok", data, "image/jpeg")


async def test_media_of_a_refused_type_or_over_the_size_limit_is_refused(
    harness: Harness, channel: Channel, platform: PlatformServer
) -> None:
    exe = await channel.fetch_media(
        _media(harness, platform, "m2", "application/x-msdownload", b"MZ")
    )
    assert exe.outcome == "refused" and "not accepted" in (exe.error or "")
    limit = channel.abilities.media_types["image/jpeg"]
    big = await channel.fetch_media(
        _media(harness, platform, "m3", "image/jpeg", b"j" * (limit + 1))
    )
    assert big.outcome == "refused" and str(limit) in (big.error or "")
