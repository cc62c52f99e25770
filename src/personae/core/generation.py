"""The generating half of a turn: fit the prompt, stream the reply, build the trace."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from personae.contracts import Engine
from personae.core.prompt import AssembledPrompt, FixedParts, fit_context
from personae.core.replies import ReplyCutter
from personae.core.safety import NUDGE, NUDGE_TOKENS, REPAIR_ASKS, HoldBack, repair_verdict
from personae.errors import EngineError, EngineUnavailable, PersonaeError, Unsupported
from personae.types import (
    ChatMessage,
    ContextBlock,
    FinishReason,
    GenerationChunk,
    GenerationOptions,
    GenerationRequest,
    PersonaRecord,
    StoredMessage,
    TextDelta,
    Timings,
    TokenLogprob,
    Trace,
    TurnFinished,
    TurnStatus,
    Usage,
    Verdict,
)

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
    logprobs: tuple[TokenLogprob, ...] = ()
    status: TurnStatus = "ok"
    verdicts: tuple[Verdict, ...] = ()
    guard_ms: float = 0.0
    # Set when the output guard changed or stopped the reply: its categories.
    guarded: tuple[str, ...] | None = None


def check_abilities(engine: Engine, options: GenerationOptions) -> None:
    """Refuse, before any work, what the persona's engine cannot do (its ``info`` says)."""
    info = engine.info
    if options.response_format is not None and not info.supports_response_format:
        raise Unsupported(
            "response_format",
            f"response_format is not supported by this persona's engine {info.name!r} "
            f"(model {info.model!r}): it cannot constrain output to JSON; leave "
            "response_format out, or use a persona on the llamacpp or openai engine",
        )
    if options.logprobs and not info.supports_logprobs:
        raise Unsupported(
            "logprobs",
            f"logprobs are not available from this persona's engine {info.name!r} "
            f"(model {info.model!r}); leave logprobs and top_logprobs out",
        )


class LogprobQueue:
    """Hands out the logprobs of the tokens whose text has been shown. The reply cutter holds
    text back and may cut it, so tokens are released by UTF-8 length as text is shown; those
    of text never shown (a cut tail) are never released."""

    def __init__(self) -> None:
        self._pending: deque[TokenLogprob] = deque()
        self._shown = 0
        self._released = 0
        self.released: list[TokenLogprob] = []

    def add(self, logprobs: tuple[TokenLogprob, ...]) -> None:
        self._pending.extend(logprobs)

    def take(self, shown: str, everything: bool = False) -> tuple[TokenLogprob, ...]:
        self._shown += len(shown.encode())
        out: list[TokenLogprob] = []
        while self._pending:
            size = _size(self._pending[0])
            if not everything and self._released + size > self._shown:
                break
            self._released += size
            out.append(self._pending.popleft())
        self.released.extend(out)
        return tuple(out)


def _size(logprob: TokenLogprob) -> int:
    return len(logprob.bytes) if logprob.bytes is not None else len(logprob.token.encode())


class CountErrors:
    """The engine as prompt assembly sees it: a count that fails with anything but a personae
    error (a plugin's tokenizer bug, a malformed answer) is an EngineError naming the engine,
    so the turn records it as failed with that error like any engine failure."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.info = engine.info

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        try:
            return await self.engine.count_tokens(messages)
        except PersonaeError:
            raise
        except Exception as exc:
            raise EngineError(
                f"engine {self.info.name} (model {self.info.model}) failed while counting "
                f"tokens ({type(exc).__name__}: {exc}); the message stays stored for a retry"
            ) from exc

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        return self.engine.generate(request)

    async def aclose(self) -> None:
        await self.engine.aclose()


async def fit(
    engine: Engine,
    record: PersonaRecord,
    options: GenerationOptions,
    fixed: FixedParts,
    blocks: Sequence[ContextBlock],
) -> AssembledPrompt:
    model = record.persona.model
    budget = min(model.context_budget or engine.info.context_window, engine.info.context_window)
    max_tokens = options.max_tokens or model.max_tokens
    return await fit_context(engine, fixed, blocks, budget, max_tokens)


async def generate(
    engine: Engine,
    record: PersonaRecord,
    options: GenerationOptions,
    prompt: AssembledPrompt,
    clock: Clock,
    emit: Emit,
    timeout_s: float,
    hold: HoldBack | None = None,
) -> Generated:
    """Stream the reply through the cutter and, with ``hold``, the output guard's hold-back
    window: text reaches ``emit`` only once it may be shown. A reply the hold-back stopped as
    a refusal of a harmless message (over-refusal repair, core/safety.py) is asked for again,
    with the nudge after the person's message, up to ``REPAIR_ASKS`` times; the trace says so."""
    result = await _generate_once(engine, record, options, prompt, clock, emit, timeout_s, hold)
    if hold is None or not hold.refused:
        return result
    refusals = [hold.refused]
    spent = result.usage
    for ask in range(1, REPAIR_ASKS + 1):
        # The last asking may not be stopped again: its refusal, if any, stands.
        hold = hold.again(repair=ask < REPAIR_ASKS)
        result = await _generate_once(
            engine, record, options, nudged(prompt), clock, emit, timeout_s, hold
        )
        spent = Usage(
            spent.prompt_tokens + result.usage.prompt_tokens,
            spent.completion_tokens + result.usage.completion_tokens,
            spent.cached_tokens + result.usage.cached_tokens,
        )
        if not hold.refused:
            break
        refusals.append(hold.refused)
    return replace(result, usage=spent, verdicts=(repair_verdict(refusals), *result.verdicts))


def nudged(prompt: AssembledPrompt) -> AssembledPrompt:
    """The prompt with ``NUDGE`` after the person's message (the last one of theirs), so the
    persona's prefix and everything before the message stay byte-identical."""
    messages = list(prompt.messages)
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        return prompt
    message = messages[last]
    messages[last] = replace(message, content=f"{message.content}\n\n{NUDGE}")
    # The reply gives up room for the nudge only when the budget has none left over.
    spare = prompt.budget - sum(s.tokens for s in prompt.sections) - prompt.max_tokens
    shrink = max(0, NUDGE_TOKENS - spare)
    return replace(prompt, messages=tuple(messages), max_tokens=max(1, prompt.max_tokens - shrink))


async def _generate_once(
    engine: Engine,
    record: PersonaRecord,
    options: GenerationOptions,
    prompt: AssembledPrompt,
    clock: Clock,
    emit: Emit,
    timeout_s: float,
    hold: HoldBack | None = None,
) -> Generated:
    check_abilities(engine, options)
    model = record.persona.model
    request = GenerationRequest(
        messages=prompt.messages,
        max_tokens=prompt.max_tokens,
        temperature=model.temperature if options.temperature is None else options.temperature,
        top_p=model.top_p if options.top_p is None else options.top_p,
        stop=options.stop,
        seed=options.seed,
        model=model.name,
        frequency_penalty=options.frequency_penalty,
        presence_penalty=options.presence_penalty,
        response_format=options.response_format,
        logprobs=options.logprobs,
        top_logprobs=options.top_logprobs,
    )
    pieces: list[str] = []
    usage, finish, chunks = Usage(), "stop", 0
    # Structured output is data, not chat: a JSON line is no speaker label to cut at.
    cutter = ReplyCutter(record.persona.name) if options.response_format is None else None
    logprobs = LogprobQueue()
    stream = engine.generate(request)
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in stream:
                chunks += bool(chunk.text)
                logprobs.add(chunk.logprobs)
                shown = cutter.feed(chunk.text) if cutter else chunk.text
                if hold is not None and shown:
                    shown = await hold.feed(shown)
                if shown:
                    if clock.first_token_ms is None:
                        clock.first_token_ms = clock.now_ms()
                    pieces.append(shown)
                    await emit(TextDelta(shown, logprobs.take(shown)))
                if (cutter and cutter.cut) or (hold is not None and hold.stopped):
                    break  # closing the stream below stops the engine's generation
                usage = chunk.usage or usage
                finish = chunk.finish_reason or finish
            tail = cutter.finish() if cutter else ""
            if hold is not None:
                tail = (await hold.feed(tail)) + (await hold.finish())
            cut = (cutter is not None and cutter.cut) or (hold is not None and hold.stopped)
            rest = logprobs.take(tail, everything=not cut)
            if tail or rest:
                pieces.append(tail)
                await emit(TextDelta(tail, rest))
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
    stopped = hold is not None and hold.stopped
    reason = cutter.cut_reason if cutter else None
    if reason is not None or stopped:
        finish = "content_filter" if stopped else "stop"
        # The engine's closing usage never came: the prompt as counted, one token a chunk.
        usage = Usage(sum(s.tokens for s in prompt.sections), chunks)
    generated = Generated(
        "".join(pieces), usage, finish, reason,  # type: ignore[arg-type]
        logprobs=tuple(logprobs.released),
    )  # fmt: skip
    if hold is None:
        return generated
    return replace(
        generated, text=hold.released, status=hold.status, verdicts=tuple(hold.verdicts),
        guard_ms=hold.guard_ms, guarded=hold.categories if hold.status != "ok" else None,
    )  # fmt: skip


def make_trace(
    engine: Engine | None,
    prompt: AssembledPrompt | None,
    clock: Clock,
    usage: Usage,
    finish_reason: FinishReason | None,
    error: str | None = None,
    cut: str | None = None,
    verdicts: tuple[Verdict, ...] = (),
    status: TurnStatus | None = None,
    guard_ms: float = 0.0,
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
        context=prompt.context if prompt else (),
        verdicts=verdicts,
        status=status or ("failed" if error else "ok"),
        guard_ms=round(guard_ms, 3),
    )


def generated_trace(
    engine: Engine, prompt: AssembledPrompt | None, clock: Clock, generated: Generated,
    verdicts: tuple[Verdict, ...] = (), guard_ms: float = 0.0,
) -> Trace:  # fmt: skip
    """The trace of a generated reply: input verdicts first, then the output guard's."""
    return make_trace(
        engine, prompt, clock, generated.usage, generated.finish_reason, cut=generated.cut,
        verdicts=verdicts + generated.verdicts, status=generated.status,
        guard_ms=guard_ms + generated.guard_ms,
    )  # fmt: skip


def finished(generated: Generated, trace: Trace, reply: StoredMessage | None) -> TurnFinished:
    return TurnFinished(
        text=generated.text,
        usage=generated.usage,
        finish_reason=generated.finish_reason,
        trace=trace,
        reply=reply,
        logprobs=generated.logprobs,
    )


def replay(reply: StoredMessage, engine: Engine | None, clock: Clock) -> TurnFinished:
    """A retried message that was already answered gets the stored answer, not a second one."""
    trace = make_trace(engine, None, clock, Usage(), "stop")
    return TurnFinished(reply.content, Usage(), "stop", trace, reply=reply, replayed=True)
