"""Guarded replies on messaging channels: the outbox carries the reply as the guard left it
(disclosure first, crisis protocol, a rewritten human claim), on WhatsApp and Telegram."""

from __future__ import annotations

from channels.harness import TG_CHAT, WA_USER
from channels.platform import BOT_TOKEN, PHONE_ID, PlatformServer

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
