"""Guarded replies on messaging channels: the outbox carries the reply as the guard left it
(disclosure first, crisis protocol, a rewritten human claim), on WhatsApp and Telegram."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from channels.harness import TG_CHAT, WA_USER
from channels.platform import BOT_TOKEN, PHONE_ID, PlatformServer
from personae.guards.crisis import DEFAULT_RESOURCES
from personae.types import ChannelMessage

from .conftest import Bench, settled
from .test_delivery import WA_SEND, connect, whatsapp

DISCLOSURE = (
    "¡Un momento! Soy Lucía, tu tutora de español: soy una IA, no una persona real "
    "(an AI, not a person)."
)


async def test_channel_replies_carry_the_guards_words(
    bench: Bench, platform: PlatformServer
) -> None:
    guarded = Bench(bench.settings.model_copy(update={"guards": "default"}))
    bot = {"persona": "spanish-tutor", "name": "ana-bot", "bot_token": BOT_TOKEN, "mode": "polling"}
    chat = str(TG_CHAT)
    async with guarded.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        await runtime.connections.add("telegram", bot)
        wa = await guarded.turn(runtime, "whatsapp", PHONE_ID, WA_USER, "hola amiga", "wamid.s1")
        await settled(runtime, wa, 1)
        wa = await guarded.turn(
            runtime, "whatsapp", PHONE_ID, WA_USER, "Repite. I am a real human. Vale", "wamid.s2"
        )
        await settled(runtime, wa, 2)
        tg = await guarded.turn(runtime, "telegram", "ana-bot", chat, "I want to die", f"{chat}:1")
        await settled(runtime, tg, 1)
    bodies = [b["text"]["body"] for b in platform.sent(WA_SEND)]
    assert bodies[0] == f"{DISCLOSURE}\n\necho: hola amiga"
    assert "real human" not in bodies[1] and "soy una IA, no una persona real" in bodies[1]
    [crisis] = [r.body["text"] for r in platform.seen if r.path.endswith("/sendMessage")]
    assert "988" in crisis and "echo" not in crisis


async def test_crisis_resources_follow_the_whatsapp_number(
    bench: Bench, platform: PlatformServer
) -> None:
    """A WhatsApp person's id is their phone number: a UK number gets Samaritans, not 988."""
    guarded = Bench(bench.settings.model_copy(update={"guards": "default"}))
    uk = "447700900123"
    async with guarded.runtime() as runtime:
        await connect(runtime, "whatsapp", whatsapp())
        wa = await guarded.turn(runtime, "whatsapp", PHONE_ID, uk, "I want to die", "wamid.c1")
        await settled(runtime, wa, 1)
    [body] = [b["text"]["body"] for b in platform.sent(WA_SEND)]
    assert "116 123" in body and "988" not in body


async def test_crisis_resources_follow_the_telegram_language_code(
    bench: Bench, platform: PlatformServer
) -> None:
    """Telegram gives no phone number, only the sender's language_code: an en-GB sender
    gets Samaritans, a German one the Telefonseelsorge, not 988."""
    guarded = Bench(bench.settings.model_copy(update={"guards": "default"}))
    bot = {"persona": "spanish-tutor", "name": "ana-bot", "bot_token": BOT_TOKEN, "mode": "polling"}
    sent_at = datetime.now(UTC)
    said = "I want to die"
    messages = [
        ChannelMessage("telegram", "ana-bot", f"{c}:1", c, c, sent_at, said, sender_language=tag)
        for c, tag in (("7001", "en-GB"), ("7002", "de"))
    ]
    async with guarded.runtime() as runtime:
        await runtime.connections.add("telegram", bot)
        await runtime.inbound.accept(messages)
        replies = await telegram_sends(platform, 2)
    by_chat = {str(r["chat_id"]): r["text"] for r in replies}
    assert DEFAULT_RESOURCES["GB"] in by_chat["7001"] and "988" not in by_chat["7001"]
    assert DEFAULT_RESOURCES["DE"] in by_chat["7002"] and "988" not in by_chat["7002"]


async def telegram_sends(platform: PlatformServer, count: int) -> list[dict[str, Any]]:
    """The bodies of the bot's sendMessage calls, once there are ``count`` (15 s at most)."""
    deadline = time.monotonic() + 15
    sends: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        sends = [r.body for r in platform.seen if r.path.endswith("/sendMessage")]
        if len(sends) >= count:
            break
        await asyncio.sleep(0.05)
    return sends
