"""The turn pipeline, top to bottom.

    accept (size check) → load persona → [conversation lane: one turn at a time, arrival order]
    → store the person's message (idempotent) → assemble the prompt within the budget
    → generate, streaming → store reply + trace (or record the failure) → reply

Each turn runs as its own task and streams events through a queue, so a caller that goes away
mid-reply does not lose the reply: it is still generated and stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from personae.contracts import ConversationLog, Engine, PersonaSource, TurnLog
from personae.core.lanes import Lanes
from personae.core.prompt import (
    AssembledPrompt,
    FixedParts,
    HistoryItem,
    count_fixed,
    fit_history,
    persona_prefix,
)
from personae.core.replies import ReplyCutter
from personae.errors import (
    BadRequest,
    EngineError,
    EngineUnavailable,
    MessageTooLarge,
    PersonaNotFound,
    TooManyMessages,
)
from personae.types import (
    ChatMessage,
    FinishReason,
    GenerationRequest,
    ModelSettings,
    PersonaRecord,
    StoredMessage,
    TextDelta,
    Timings,
    Trace,
    TurnEvent,
    TurnFinished,
    TurnInput,
    TurnStarted,
    Usage,
)

EngineResolver = Callable[[ModelSettings], Awaitable[Engine]]

_END = object()


@dataclass
class _Clock:
    """Stage timestamps of one turn, in ms since it was accepted."""

    start: float
    queued_ms: float = 0.0
    assembled_ms: float = 0.0
    first_token_ms: float | None = None

    def now_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000.0

    def timings(self) -> Timings:
        return Timings(self.queued_ms, self.assembled_ms, self.first_token_ms, self.now_ms())


@dataclass
class _Generated:
    text: str
    usage: Usage
    finish_reason: FinishReason
    cut: str | None = None


class TurnRunner:
    def __init__(
        self,
        *,
        personas: PersonaSource,
        conversations: ConversationLog,
        turns: TurnLog,
        engines: EngineResolver,
        max_message_chars: int,
        engine_timeout_s: float,
        history_limit: int = 200,
        max_messages: int = 1000,
    ) -> None:
        self._personas = personas
        self._conversations = conversations
        self._turns = turns
        self._engines = engines
        self._max_chars = max_message_chars
        self._max_messages = max_messages
        self._timeout = engine_timeout_s
        self._history_limit = history_limit
        self._lanes = Lanes()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, turn: TurnInput) -> AsyncIterator[TurnEvent]:
        """Run one turn; yields TurnStarted, TextDelta*, TurnFinished.

        Raises PersonaNotFound, MessageTooLarge, TooManyMessages, BadRequest, EngineUnavailable,
        EngineError.
        """
        if len(turn.text) > self._max_chars:
            raise MessageTooLarge(len(turn.text), self._max_chars)
        # Refused before any work: a huge history must not reach the tokenizer at all.
        if len(turn.history) + 1 > self._max_messages:
            raise TooManyMessages(len(turn.history) + 1, self._max_messages)
        queue: asyncio.Queue[object] = asyncio.Queue()
        clock = _Clock(time.perf_counter())
        task = asyncio.create_task(self._execute(turn, queue.put_nowait, clock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        while (item := await queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Let turns in flight finish (and be stored) before shutdown."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def _execute(
        self, turn: TurnInput, emit: Callable[[object], None], clock: _Clock
    ) -> None:
        try:
            if turn.person is None:
                await self._stateless(turn, emit, clock)
            else:
                # The lane is taken before any await, so turns keep their arrival order.
                async with self._lanes.hold((turn.persona, turn.person)):
                    clock.queued_ms = clock.now_ms()
                    await self._stateful(turn, emit, clock)
        except Exception as exc:  # handed to the caller, who raises it
            emit(exc)
        finally:
            emit(_END)

    async def _stateful(
        self, turn: TurnInput, emit: Callable[[object], None], clock: _Clock
    ) -> None:
        assert turn.person is not None
        # The persona first: a turn that may not see it must leave no conversation behind.
        record = await self._persona(turn)
        conversation = await self._conversations.open_conversation(turn.persona, turn.person)
        engine = await self._engines(record.persona.model)
        # The history read need not wait for the insert: the lane keeps other turns out, and
        # the id filter below drops the new message whichever finished first.
        # Counting the fixed prompt parts needs neither, so it runs alongside too.
        (inbound, earlier_reply), stored, fixed = await asyncio.gather(
            self._conversations.add_inbound(conversation, turn.text, turn.external_id),
            self._conversations.history(conversation.id, self._history_limit + 1),
            self._count_fixed(engine, record, turn),
        )
        emit(TurnStarted(conversation.id, inbound.id))
        if earlier_reply is not None:
            emit(TextDelta(earlier_reply.content))
            emit(_replay(earlier_reply, engine, clock))
            return
        prior = [
            HistoryItem(ChatMessage(m.role, m.content), m.id) for m in stored if m.id < inbound.id
        ]
        prompt: AssembledPrompt | None = None
        try:
            prompt = await self._fit(engine, record, turn, fixed, prior)
            clock.assembled_ms = clock.now_ms()
            generated = await self._generate(engine, record, turn, prompt, clock, emit)
        except (EngineError, BadRequest) as exc:
            # The message stays stored, awaiting a retry; the failure is on record.
            trace = _trace(engine, prompt, clock, None, error=str(exc))
            await self._turns.fail_turn(conversation, inbound, record.revision, trace)
            raise
        trace = _trace(engine, prompt, clock, generated)
        reply, _ = await self._turns.complete_turn(
            conversation, inbound, generated.text, record.revision, trace
        )
        emit(_finished(generated, trace, reply))

    async def _stateless(
        self, turn: TurnInput, emit: Callable[[object], None], clock: _Clock
    ) -> None:
        record = await self._persona(turn)
        engine = await self._engines(record.persona.model)
        emit(TurnStarted(None, None))
        prior = [HistoryItem(message) for message in turn.history]
        fixed = await self._count_fixed(engine, record, turn)
        prompt = await self._fit(engine, record, turn, fixed, prior)
        clock.assembled_ms = clock.now_ms()
        generated = await self._generate(engine, record, turn, prompt, clock, emit)
        trace = _trace(engine, prompt, clock, generated)
        emit(_finished(generated, trace, None))

    async def _persona(self, turn: TurnInput) -> PersonaRecord:
        """The turn's persona; an unpublished one is missing unless the turn may see it."""
        record = await self._personas.get_persona(turn.persona)
        if not record.persona.published and not turn.allow_unpublished:
            raise PersonaNotFound(turn.persona)
        return record

    async def _count_fixed(
        self, engine: Engine, record: PersonaRecord, turn: TurnInput
    ) -> FixedParts:
        return await count_fixed(
            engine, persona_prefix(record.persona), turn.instructions, turn.text
        )

    async def _fit(
        self,
        engine: Engine,
        record: PersonaRecord,
        turn: TurnInput,
        fixed: FixedParts,
        prior: list[HistoryItem],
    ) -> AssembledPrompt:
        model = record.persona.model
        budget = min(model.context_budget or engine.info.context_window, engine.info.context_window)
        max_tokens = turn.options.max_tokens or model.max_tokens
        return await fit_history(engine, fixed, prior, budget, max_tokens)

    async def _generate(
        self,
        engine: Engine,
        record: PersonaRecord,
        turn: TurnInput,
        prompt: AssembledPrompt,
        clock: _Clock,
        emit: Callable[[object], None],
    ) -> _Generated:
        model, options = record.persona.model, turn.options
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
            async with asyncio.timeout(self._timeout):
                async for chunk in stream:
                    chunks += bool(chunk.text)
                    if shown := cutter.feed(chunk.text):
                        if clock.first_token_ms is None:
                            clock.first_token_ms = clock.now_ms()
                        pieces.append(shown)
                        emit(TextDelta(shown))
                    if cutter.cut:
                        break  # closing the stream below stops the engine's generation
                    usage = chunk.usage or usage
                    finish = chunk.finish_reason or finish
            if tail := cutter.finish():
                pieces.append(tail)
                emit(TextDelta(tail))
        except TimeoutError:
            raise EngineUnavailable(
                f"engine {engine.info.name} gave no complete reply within {self._timeout:g} s; "
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
        return _Generated("".join(pieces), usage, finish, cutter.cut_reason)  # type: ignore[arg-type]


def _trace(
    engine: Engine,
    prompt: AssembledPrompt | None,
    clock: _Clock,
    generated: _Generated | None,
    error: str | None = None,
) -> Trace:
    return Trace(
        engine=engine.info.name,
        model=engine.info.model,
        budget=prompt.budget if prompt else 0,
        sections=prompt.sections if prompt else (),
        dropped_message_ids=prompt.dropped_message_ids if prompt else (),
        dropped_tokens=prompt.dropped_tokens if prompt else 0,
        timings=clock.timings(),
        usage=generated.usage if generated else Usage(),
        finish_reason=generated.finish_reason if generated else None,
        error=error,
        cut=generated.cut if generated else None,
    )


def _finished(generated: _Generated, trace: Trace, reply: StoredMessage | None) -> TurnFinished:
    return TurnFinished(
        text=generated.text,
        usage=generated.usage,
        finish_reason=generated.finish_reason,
        trace=trace,
        reply=reply,
    )


def _replay(reply: StoredMessage, engine: Engine, clock: _Clock) -> TurnFinished:
    """A retried message that was already answered gets the stored answer, not a second one."""
    trace = _trace(engine, None, clock, _Generated(reply.content, Usage(), "stop"))
    return TurnFinished(reply.content, Usage(), "stop", trace, reply=reply, replayed=True)
