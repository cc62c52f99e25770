"""Over-refusal repair: a reply that opens with a refusal of a message every guard judged
harmless is stopped before it is shown and asked for again (at most twice), with a nudge
after the person's message (PERSONAE_GUARD_REPAIR_REFUSALS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from personae.contracts import Engine
from personae.core.generation import nudged
from personae.core.prompt import AssembledPrompt
from personae.core.safety import (
    NUDGE,
    NUDGE_TOKENS,
    REPAIR_ASKS,
    SafetyPolicy,
    harmless,
    refuses,
)
from personae.core.turn import TurnRunner
from personae.guards.crisis import load_resources
from personae.guards.embedded import EmbeddedGuard
from personae.stores.sql import SqlStore
from personae.types import (
    ChatMessage,
    GenerationChunk,
    GenerationRequest,
    PersonRef,
    PromptSection,
    TextDelta,
    TurnEvent,
    TurnFinished,
    TurnInput,
    Verdict,
)

from .conftest import make_persona, runner_for, scripted

REFUSAL = "I'm sorry, but I can't help with that. Is there anything else?"


class Refuser:
    """A real engine (the shipped scripted one) that opens every reply with a refusal unless
    the person's message carries the nudge: a model that over-refuses, on purpose."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.info = inner.info
        self.requests: list[GenerationRequest] = []

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        return await self.inner.count_tokens(messages)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self.requests.append(request)
        last = next(m.content for m in reversed(request.messages) if m.role == "user")
        if NUDGE in last:
            async for chunk in self.inner.generate(request):
                yield chunk
            return
        for word in REFUSAL.split(" "):
            yield GenerationChunk(text=word + " ")
        yield GenerationChunk(finish_reason="stop")

    async def aclose(self) -> None:
        await self.inner.aclose()


async def runner(store: SqlStore, engine: Refuser, **fields: object) -> TurnRunner:
    guard = EmbeddedGuard(load_resources(None))
    policy = SafetyPolicy((guard,), **fields)  # type: ignore[arg-type]
    await store.put_persona(make_persona())
    return await runner_for(store, engine, safety=policy)


async def turn(runner: TurnRunner, text: str) -> tuple[str, TurnFinished]:
    events: list[TurnEvent] = []
    ask = TurnInput(persona="helper", text=text, person=PersonRef("api", "ana"))
    async for event in runner.run(ask):
        events.append(event)
    last = events[-1]
    assert isinstance(last, TurnFinished)
    return "".join(e.text for e in events if isinstance(e, TextDelta)), last


async def test_a_refusal_of_a_harmless_message_is_asked_again_with_a_nudge(
    store: SqlStore,
) -> None:
    engine = Refuser(await scripted())
    shown, finished = await turn(await runner(store, engine), "What's a good name for a cat?")
    assert "sorry" not in shown.lower() and "sorry" not in finished.text.lower()
    assert "echo: What's a good name for a cat?" in finished.text
    assert finished.trace.status == "ok"
    [repair] = [v for v in finished.trace.verdicts if v.guard == "repair"]
    assert "over-refusal repair" in repair.reason and "I'm sorry" in repair.reason
    first, second = engine.requests
    # The nudge comes after the person's message; everything before it is byte-identical.
    assert first.messages[:-1] == second.messages[:-1]
    assert second.messages[-1].content == f"{first.messages[-1].content}\n\n{NUDGE}"
    assert finished.reply is not None and finished.reply.content == finished.text
    assert second.max_tokens == first.max_tokens, "the budget had room for the nudge"


def test_the_reply_gives_up_room_for_the_nudge_only_when_the_budget_is_full() -> None:
    message = ChatMessage("user", "hi")
    roomy = AssembledPrompt((message,), (PromptSection("message", 10, 1),), (), 0, 1000, 100)
    assert nudged(roomy).max_tokens == 100
    full = replace(roomy, budget=110)
    assert nudged(full).max_tokens == 100 - NUDGE_TOKENS
    assert nudged(full).messages[0].content == f"hi\n\n{NUDGE}"


async def test_the_repair_can_be_turned_off(store: SqlStore) -> None:
    engine = Refuser(await scripted())
    ready = await runner(store, engine, repair_refusals=False)
    _, finished = await turn(ready, "What's a good name for a cat?")
    assert REFUSAL in finished.text and len(engine.requests) == 1
    assert not [v for v in finished.trace.verdicts if v.guard == "repair"]


async def test_a_second_refusal_stands(store: SqlStore) -> None:
    class Stubborn(Refuser):
        async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
            self.requests.append(request)
            yield GenerationChunk(text=REFUSAL)
            yield GenerationChunk(finish_reason="stop")

    engine = Stubborn(await scripted())
    _, finished = await turn(await runner(store, engine), "What's a good name for a cat?")
    assert REFUSAL in finished.text and len(engine.requests) == 1 + REPAIR_ASKS, "no more"
    [repair] = [v for v in finished.trace.verdicts if v.guard == "repair"]
    assert f"asked {REPAIR_ASKS} more times" in repair.reason


async def test_a_refusal_at_the_first_reasking_is_asked_again(store: SqlStore) -> None:
    class TwiceRefuser(Refuser):
        async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
            if len(self.requests) < 2:
                self.requests.append(request)
                yield GenerationChunk(text="Sorry, I can't. ")
                yield GenerationChunk(finish_reason="stop")
                return
            async for chunk in super().generate(request):
                yield chunk

    engine = TwiceRefuser(await scripted())
    shown, finished = await turn(await runner(store, engine), "What's a good name for a cat?")
    assert "sorry" not in shown.lower(), "neither refusal was shown"
    assert "echo: What's a good name for a cat?" in finished.text
    _, second, third = engine.requests
    assert second.messages == third.messages, "the same nudged prompt, sampled afresh"
    assert finished.trace.usage.completion_tokens > 0


def test_only_messages_every_guard_judged_harmless_are_repaired() -> None:
    calm = Verdict("default", "input", harm_share=0.1)
    unsure = Verdict("default", "input", harm_share=0.6)
    silent = Verdict("remote", "input")  # a guard that gives no share
    stopped = Verdict("remote", "input", allowed=False, action="block")
    assert harmless([calm]) and harmless([calm, silent])
    assert not harmless([unsure]) and not harmless([calm, unsure])
    assert not harmless([silent]), "nobody said how harmless it is"
    assert not harmless([calm, stopped])


def test_refusal_openings() -> None:
    openings = ("I'm sorry, but no.", "  As an AI, I cannot", "I can\u2019t do that", '"Sorry!')
    for text in (*openings, "No, no, no! You can't do that."):
        assert refuses(text), text
    for text in ("No, a tomato is a fruit.", "Sure! Here's how.", "It isn't, but here's why."):
        assert not refuses(text), text
