"""The turn, in two steps with a durable job between them.

    accept  (the caller's request): check the message (size, message cap), load the persona,
            then one store transaction: open the conversation, store the person's message once
            (a redelivery is a no-op), record its job. Returns at once: a webhook's 200.
    work    the job passes through the WorkQueue contract: jobs of one conversation run one at
            a time in arrival order, resumed after a restart.
    process (a worker): claim the job and read the history before the message, assemble the
            prompt within the budget, generate streaming, then one transaction: reply, trace,
            job done and outbox entries (or the failure on record).
    events  the worker publishes TurnStarted, TextDelta*, TurnFinished or TurnFailed to the
            EventSink, keyed by the message id, for whoever waits (API stream, web chat, CLI).

``run`` is the surfaces' convenience: accept, subscribe, submit, and yield the events. A caller
that goes away mid-reply does not stop the turn: its worker still stores the reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from personae.contracts import (
    ContextSource,
    Engine,
    EventSink,
    Inbox,
    PersonaSource,
    TurnLog,
    WorkQueue,
)
from personae.core.commands import Command, CommandCall, CommandRegistry
from personae.core.generation import (
    Clock,
    Generated,
    finished,
    fit,
    generate,
    make_trace,
    replay,
)
from personae.core.prompt import AssembledPrompt, HistoryItem, count_fixed, persona_prefix
from personae.errors import (
    BadRequest,
    EngineError,
    MessageTooLarge,
    PersonaeError,
    PersonaNotFound,
    TooManyMessages,
)
from personae.types import (
    Accepted,
    ChatMessage,
    Contact,
    GenerationOptions,
    Job,
    Location,
    ModelSettings,
    OutboxItem,
    PersonaRecord,
    ReplyRoute,
    StoredMessage,
    TextDelta,
    TurnContext,
    TurnEvent,
    TurnFailed,
    TurnFinished,
    TurnInput,
    TurnStarted,
    Usage,
    WorkEvent,
)
from personae.types.context import ContextBlock, ContextNote, ContextTurn

EngineResolver = Callable[[ModelSettings], Awaitable[Engine]]
# The reply's outbox entries for a channel conversation (none for API, web and CLI turns).
OutboxPlanner = Callable[[ReplyRoute, str], tuple[OutboxItem, ...]]
# Work to do once a turn's reply is stored (memory extraction): records and submits its job.
AfterTurn = Callable[[Job, TurnContext, StoredMessage], Awaitable[None]]
TURN = "turn"
log = logging.getLogger(__name__)


def one_entry(route: ReplyRoute, text: str) -> tuple[OutboxItem, ...]:
    """The default plan: the whole reply as one entry (a channel adapter splits it first)."""
    payload = {"connection": route.connection, "chat_id": route.chat_id, "text": text}
    return (OutboxItem(route.channel, json.dumps(payload, ensure_ascii=False)),)


@dataclass(frozen=True, slots=True)
class TurnSpec:
    """A turn job's payload: what the person's stored message does not say."""

    persona: str
    instructions: str = ""
    options: GenerationOptions = field(default_factory=GenerationOptions)
    allow_unpublished: bool = False
    route: ReplyRoute | None = None
    location: Location | None = None
    contacts: tuple[Contact, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TurnSpec:
        data = json.loads(text)
        options = data["options"]
        options["stop"] = tuple(options["stop"])
        route = data["route"]
        location = data.get("location")  # absent in jobs recorded before channels had them
        contacts = [{**c, "phones": tuple(c["phones"])} for c in data.get("contacts", ())]
        return cls(
            data["persona"],
            data["instructions"],
            GenerationOptions(**options),
            data["allow_unpublished"],
            ReplyRoute(**route) if route else None,
            Location(**location) if location else None,
            tuple(Contact(**c) for c in contacts),
        )


class TurnRunner:
    def __init__(
        self,
        *,
        personas: PersonaSource,
        inbox: Inbox,
        turns: TurnLog,
        work: WorkQueue,
        events: EventSink,
        engines: EngineResolver,
        max_message_chars: int,
        engine_timeout_s: float,
        history_limit: int = 200,
        max_messages: int = 1000,
        outbox: OutboxPlanner = one_entry,
        commands: CommandRegistry | None = None,
        sources: Sequence[ContextSource] = (),
        after_turn: AfterTurn | None = None,
    ) -> None:
        self._personas = personas
        self._inbox = inbox
        self._turns = turns
        self._work = work
        self._events = events
        self._engines = engines
        self._max_chars = max_message_chars
        self._max_messages = max_messages
        self._timeout = engine_timeout_s
        self._history_limit = history_limit
        self._outbox = outbox
        self._commands = commands
        self._sources = tuple(sources)
        self._after_turn = after_turn
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ accept

    def check(self, turn: TurnInput) -> None:
        """Refused before any work: a huge history must not reach the tokenizer at all."""
        if len(turn.text) > self._max_chars:
            raise MessageTooLarge(len(turn.text), self._max_chars)
        if len(turn.history) + 1 > self._max_messages:
            raise TooManyMessages(len(turn.history) + 1, self._max_messages)

    async def accept(self, turn: TurnInput, route: ReplyRoute | None = None) -> Accepted:
        """Store the person's message once and record its job, in one store transaction;
        the caller submits the job (or uses ``enqueue``). Raises MessageTooLarge,
        TooManyMessages, PersonaNotFound."""
        assert turn.person is not None, "a stateless turn has nothing to accept"
        self.check(turn)
        spec = TurnSpec(
            turn.persona, turn.instructions, turn.options, turn.allow_unpublished, route,
            turn.location, turn.contacts,
        )  # fmt: skip
        # One write, in call order: on SQLite's single writer, arrival order is call order.
        return await self._inbox.accept_turn(
            turn.persona,
            turn.person,
            turn.text,
            turn.external_id,
            TURN,
            spec.to_json(),
            turn.allow_unpublished,
        )

    async def enqueue(self, turn: TurnInput, route: ReplyRoute | None = None) -> Accepted:
        """accept, then hand the job to the work queue: a webhook's whole part of the turn.
        A redelivery submits the job again, which a queue that holds it ignores."""
        accepted = await self.accept(turn, route)
        if accepted.job is not None:
            await self._work.submit(accepted.job)
        return accepted

    # ------------------------------------------------------------ run (accept + wait)

    async def run(self, turn: TurnInput) -> AsyncIterator[TurnEvent]:
        """Run one turn; yields TurnStarted, TextDelta*, TurnFinished.

        Raises PersonaNotFound, MessageTooLarge, TooManyMessages, BadRequest, EngineUnavailable,
        EngineError.
        """
        if turn.person is None:
            async for event in self._stateless(turn):
                yield event
            return
        clock = Clock.since(0.0)
        accepted = await self.accept(turn)
        started = TurnStarted(accepted.conversation.id, accepted.message.id)
        if accepted.reply is not None:
            record = await self._personas.get_persona(turn.persona)
            engine = await self._engines(record.persona.model)
            yield started
            yield TextDelta(accepted.reply.content)
            yield replay(accepted.reply, engine, clock)
            return
        assert accepted.job is not None
        async with self._events.subscribe(accepted.message.id) as events:
            # Also when the job was in flight already: a queue that holds it ignores it, and
            # one that lost it (a restart) runs it.
            await self._work.submit(accepted.job)
            yield started
            async for item in events:
                if isinstance(item, TurnFailed):
                    raise item.error
                if not isinstance(item, TurnStarted):
                    yield item

    # ------------------------------------------------------------ process (a worker)

    async def process(self, job: Job) -> None:
        """Run the turn of a recorded job: its outcome is stored and published. Anything but a
        PersonaeError (a bug, the store down) is published too, then raised for the queue to
        log; the job then stays unfinished and runs again after a restart."""
        spec = TurnSpec.from_json(job.payload)
        key = job.message_id
        clock = Clock.since(_age_s(job))
        record, context = await asyncio.gather(
            self._personas.get_persona(spec.persona),
            self._turns.begin_turn(job, self._history_limit),
            return_exceptions=True,
        )
        if isinstance(context, BaseException):  # the store failed: the job stays recorded
            await self._events.publish(key, TurnFailed(_exception(context)))
            raise context
        if context.status != "running":
            await self._finished_before(key, context, clock)
            return
        try:
            await self._stateful(job, spec, record, context, clock)  # record: or its error
        except Exception as exc:
            await self._events.publish(key, TurnFailed(exc))
            if not isinstance(exc, PersonaeError):
                raise

    async def _stateful(
        self,
        job: Job,
        spec: TurnSpec,
        found: PersonaRecord | BaseException,
        context: TurnContext,
        clock: Clock,
    ) -> None:
        key, message = job.message_id, context.message
        clock.queued_ms = clock.now_ms()
        engine: Engine | None = None
        prompt: AssembledPrompt | None = None
        revision: int | None = None
        try:
            record = _persona_of(found)
            if not record.persona.published and not spec.allow_unpublished:
                raise PersonaNotFound(spec.persona)
            command = self._commands.match(message.content) if self._commands else None
            if command is not None:
                await self._answer_command(
                    job, spec, record, context, clock, command[0], command[1]
                )
                return
            # Context sources (memory) look up alongside the engine.
            resolved, blocks = await asyncio.gather(
                self._engines(record.persona.model), self._context(context)
            )
            engine = resolved
            revision = record.revision
            await self._events.publish(key, TurnStarted(context.conversation.id, message.id))
            prior = [HistoryItem(ChatMessage(m.role, m.content), m.id) for m in context.history]
            # MEMORY HOOK (until the context-block seam lands): the blocks go after the
            # persona prefix, with the caller's instructions, so the prefix stays identical.
            instructions = "\n\n".join(
                part for part in (spec.instructions.strip(), *(b.text for b in blocks)) if part
            )
            notes = tuple(ContextNote.from_reason(b.source, r) for b in blocks for r in b.reasons)
            fixed = await count_fixed(
                engine, persona_prefix(record.persona), instructions, message.content
            )
            prompt = await fit(engine, record, spec.options, fixed, prior)
            clock.assembled_ms = clock.now_ms()

            async def emit(delta: TextDelta) -> None:
                await self._events.publish(key, delta)

            generated = await generate(
                engine, record, spec.options, prompt, clock, emit, self._timeout
            )
        except Exception as exc:
            # The message stays stored, awaiting a retry; the failure is on record.
            trace = make_trace(engine, prompt, clock, Usage(), None, error=_describe(exc))
            if not isinstance(exc, EngineError | BadRequest):
                revision = None  # not the persona's answer: only the job is marked failed
            await self._turns.fail_turn(context.conversation, message, revision, trace, job.id)
            raise
        trace = make_trace(
            engine,
            prompt,
            clock,
            generated.usage,
            generated.finish_reason,
            cut=generated.cut,
            context=notes,
        )
        outbox = self._outbox(spec.route, generated.text) if spec.route else ()
        reply, _ = await self._turns.complete_turn(
            context.conversation, message, generated.text, record.revision, trace, job.id, outbox
        )
        await self._events.publish(key, finished(generated, trace, reply))
        if self._after_turn is not None:
            try:  # off the reply path: the reply is stored and published already
                await self._after_turn(job, context, reply)
            except Exception:
                log.exception("after-turn work for message %d was not recorded", message.id)

    async def _context(self, context: TurnContext) -> list[ContextBlock]:
        """Every source's blocks for this turn, looked up side by side; a source that fails
        costs its blocks, not the turn."""
        if not self._sources:
            return []
        turn = ContextTurn(
            context.conversation.persona_id,
            context.conversation.person_id,
            context.conversation.id,
            context.message.id,
            context.message.content,
            tuple(m.content for m in context.history[-4:]),
            frozenset(m.id for m in context.history),
        )
        found = await asyncio.gather(
            *(source.blocks(turn) for source in self._sources), return_exceptions=True
        )
        blocks: list[ContextBlock] = []
        for source, result in zip(self._sources, found, strict=True):
            if isinstance(result, BaseException):
                log.warning("context source %s failed: %r", source.name, result)
                continue
            blocks.extend(result)
        return blocks

    async def _answer_command(
        self,
        job: Job,
        spec: TurnSpec,
        record: PersonaRecord,
        context: TurnContext,
        clock: Clock,
        command: Command,
        args: str,
    ) -> None:
        """A chat command is answered by its handler, without the model, and stored like a
        reply (so every channel delivers it)."""
        key, message = job.message_id, context.message
        await self._events.publish(key, TurnStarted(context.conversation.id, message.id))
        call = CommandCall(
            record.persona.id,
            context.conversation.person_id,
            context.conversation.id,
            message.id,
            command.name,
            args,
        )
        text = await command.handler(call)
        trace = make_trace(None, None, clock, Usage(), "stop")
        outbox = self._outbox(spec.route, text) if spec.route else ()
        reply, _ = await self._turns.complete_turn(
            context.conversation, message, text, record.revision, trace, job.id, outbox
        )
        await self._events.publish(key, TextDelta(text))
        await self._events.publish(key, finished(Generated(text, Usage(), "stop"), trace, reply))

    async def _finished_before(self, key: int, context: TurnContext, clock: Clock) -> None:
        """A job that was already done or failed: whoever waits gets that end."""
        event: WorkEvent
        if context.reply is not None:
            event = replay(context.reply, None, clock)
        else:
            event = TurnFailed(EngineError(context.error or "the turn failed; send it again"))
        await self._events.publish(key, event)

    # ------------------------------------------------------------ stateless

    async def _stateless(self, turn: TurnInput) -> AsyncIterator[TurnEvent]:
        """Without a person there is nothing to store, so no job: the process step runs
        here, as its own task, so a caller that goes away does not cut it short."""
        self.check(turn)
        queue: asyncio.Queue[WorkEvent | None] = asyncio.Queue()
        task = asyncio.create_task(self._run_stateless(turn, queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        while (item := await queue.get()) is not None:
            if isinstance(item, TurnFailed):
                raise item.error
            yield item

    async def _run_stateless(self, turn: TurnInput, queue: asyncio.Queue[WorkEvent | None]) -> None:
        clock = Clock.since(0.0)
        try:
            record = await self._persona(turn.persona, turn.allow_unpublished)
            engine = await self._engines(record.persona.model)
            queue.put_nowait(TurnStarted(None, None))
            prior = [HistoryItem(message) for message in turn.history]
            fixed = await count_fixed(
                engine, persona_prefix(record.persona), turn.instructions, turn.text
            )
            prompt = await fit(engine, record, turn.options, fixed, prior)
            clock.assembled_ms = clock.now_ms()

            async def emit(delta: TextDelta) -> None:
                queue.put_nowait(delta)

            generated = await generate(
                engine, record, turn.options, prompt, clock, emit, self._timeout
            )
            trace = make_trace(
                engine, prompt, clock, generated.usage, generated.finish_reason, cut=generated.cut
            )
            queue.put_nowait(finished(generated, trace, None))
        except Exception as exc:  # handed to the caller, who raises it
            queue.put_nowait(TurnFailed(exc))
        finally:
            queue.put_nowait(None)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Let stateless turns in flight finish before shutdown (jobs: WorkQueue.aclose)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def _persona(self, slug: str, allow_unpublished: bool) -> PersonaRecord:
        """The turn's persona; an unpublished one is missing unless the turn may see it."""
        record = await self._personas.get_persona(slug)
        if not record.persona.published and not allow_unpublished:
            raise PersonaNotFound(slug)
        return record


def _persona_of(found: PersonaRecord | BaseException) -> PersonaRecord:
    if isinstance(found, BaseException):
        raise found
    return found


def _exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else PersonaeError(repr(error))


def _age_s(job: Job) -> float:
    return (datetime.now(UTC) - job.created_at).total_seconds()


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, PersonaeError) else f"{type(exc).__name__}: {exc}"


__all__ = ["TURN", "TurnFinished", "TurnRunner", "TurnSpec", "one_entry"]
