"""The generating half of a turn: fit the prompt, stream the reply, build the trace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from personae.contracts import Engine
from personae.core.prompt import AssembledPrompt, FixedParts, HistoryItem, fit_history
from personae.core.replies import ReplyCutter
from personae.errors import EngineUnavailable
from personae.types import (
    FinishReason,
    GenerationOptions,
    GenerationRequest,
    PersonaRecord,
    StoredMessage,
    TextDelta,
    Timings,
    Trace,
    TurnFinished,
    Usage,
)
from personae.types.context import ContextNote

Emit = Callable[[TextDelta], Awaitable[None]]


@dataclass
class Clock:
    """Stage timestamps of one turn, in ms since it was accepted."""

    start: float
    queued_ms: float = 0.0
    assembled_ms: float = 0.0
    first_token_ms: float | None = None

    @classmethod
    def since(cls, seconds_ago: float) -> Clock:
        return cls(time.perf_counter() - max(seconds_ago, 0.0))

    def now_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000.0

    def timings(self) -> Timings:
        return Timings(self.queued_ms, self.assembled_ms, self.first_token_ms, self.now_ms())


@dataclass
class Generated:
    text: str
    usage: Usage
    finish_reason: FinishReason
    cut: str | None = None  # why core.replies ended the reply early


async def fit(
    engine: Engine,
    record: PersonaRecord,
    options: GenerationOptions,
    fixed: FixedParts,
    prior: list[HistoryItem],
) -> AssembledPrompt:
    model = record.persona.model
    budget = min(model.context_budget or engine.info.context_window, engine.info.context_window)
    max_tokens = options.max_tokens or model.max_tokens
    return await fit_history(engine, fixed, prior, budget, max_tokens)


async def generate(
    engine: Engine,
    record: PersonaRecord,
    options: GenerationOptions,
    prompt: AssembledPrompt,
    clock: Clock,
    emit: Emit,
    timeout_s: float,
) -> Generated:
    model = record.persona.model
    request = GenerationRequest(
        messages=prompt.messages,
        max_tokens=prompt.max_tokens,
        temperature=model.temperature if options.temperature is None else options.temperature,
        top_p=model.top_p if options.top_p is None else options.top_p,
        stop=options.stop,
        seed=options.seed,
        model=model.name,
    )
    pieces: list[str] = []
    usage, finish, chunks = Usage(), "stop", 0
    cutter = ReplyCutter(record.persona.name)
    stream = engine.generate(request)
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in stream:
                chunks += bool(chunk.text)
                if shown := cutter.feed(chunk.text):
                    if clock.first_token_ms is None:
                        clock.first_token_ms = clock.now_ms()
                    pieces.append(shown)
                    await emit(TextDelta(shown))
                if cutter.cut:
                    break  # closing the stream below stops the engine's generation
                usage = chunk.usage or usage
                finish = chunk.finish_reason or finish
        if tail := cutter.finish():
            pieces.append(tail)
            await emit(TextDelta(tail))
    except TimeoutError:
        raise EngineUnavailable(
            f"engine {engine.info.name} gave no complete reply within {timeout_s:g} s; "
            "retry, or raise PERSONAE_ENGINE_TIMEOUT_S"
        ) from None
    finally:
        # Stop the engine's generation too when the turn ends early (timeout, failure).
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    if cutter.cut:
        finish = "stop"
        # The engine's closing usage never came: the prompt as counted, one token a chunk.
        usage = Usage(sum(s.tokens for s in prompt.sections), chunks)
    return Generated("".join(pieces), usage, finish, cutter.cut_reason)  # type: ignore[arg-type]


def make_trace(
    engine: Engine | None,
    prompt: AssembledPrompt | None,
    clock: Clock,
    usage: Usage,
    finish_reason: FinishReason | None,
    error: str | None = None,
    cut: str | None = None,
    context: tuple[ContextNote, ...] = (),
) -> Trace:
    return Trace(
        engine=engine.info.name if engine else "",
        model=engine.info.model if engine else "",
        budget=prompt.budget if prompt else 0,
        sections=prompt.sections if prompt else (),
        dropped_message_ids=prompt.dropped_message_ids if prompt else (),
        dropped_tokens=prompt.dropped_tokens if prompt else 0,
        timings=clock.timings(),
        usage=usage,
        finish_reason=finish_reason,
        error=error,
        cut=cut,
        context=context,
    )


def finished(generated: Generated, trace: Trace, reply: StoredMessage | None) -> TurnFinished:
    return TurnFinished(
        text=generated.text,
        usage=generated.usage,
        finish_reason=generated.finish_reason,
        trace=trace,
        reply=reply,
    )


def replay(reply: StoredMessage, engine: Engine | None, clock: Clock) -> TurnFinished:
    """A retried message that was already answered gets the stored answer, not a second one."""
    trace = make_trace(engine, None, clock, Usage(), "stop")
    return TurnFinished(reply.content, Usage(), "stop", trace, reply=reply, replayed=True)
