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
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from personae.contracts import (
    AttachmentLog,
    ContextSource,
    Engine,
    EventSink,
    Inbox,
    MediaStore,
    PersonaSource,
    TurnLog,
    WorkQueue,
)
from personae.core.commands import CommandContext, Commands, PersonForgotten
from personae.core.generation import (
    Clock,
    CountErrors,
    Emit,
    Generated,
    check_abilities,
    finished,
    fit,
    generate,
    generated_trace,
    make_trace,
    replay,
)
from personae.core.pictures import PictureMaker, pictures_note
from personae.core.prompt import (
    AssembledPrompt,
    HistorySource,
    PostHistorySource,
    count_fixed,
    gather_blocks,
    persona_prefix,
)
from personae.core.safety import (
    STOPPING,
    HoldBack,
    SafetyPolicy,
    Said,
    harmless,
    noteworthy,
    status_of,
)
from personae.core.seeing import seeing_blocks
from personae.core.template import render_persona
from personae.core.turn_files import TurnFiles
from personae.core.turn_spec import (
    TURN,
    AfterTurn,
    DirectSender,
    EngineResolver,
    HearFirst,
    OutboxPlanner,
    PictureOutbox,
    TurnSpec,
    one_entry,
    phone_of,
)
from personae.core.video_replies import video_plan
from personae.errors import (
    BadRequest,
    EngineError,
    EngineUnavailable,
    MessageTooLarge,
    PersonaeError,
    PersonaNotFound,
    RetryLater,
    TooManyMessages,
)
from personae.types import (
    Accepted,
    ChatMessage,
    ContextRequest,
    GenerationOptions,
    GuardInput,
    HistoryItem,
    ImagePart,
    Job,
    MediaRecord,
    Persona,
    PersonaRecord,
    ReplyGuarded,
    ReplyRoute,
    TextDelta,
    TurnContext,
    TurnEvent,
    TurnFailed,
    TurnFinished,
    TurnInput,
    TurnStarted,
    Usage,
    Verdict,
    VoiceSettings,
    WorkEvent,
)

log = logging.getLogger(__name__)


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
        commands: Commands | None = None,
        direct: DirectSender | None = None,
        sources: Sequence[ContextSource] = (),
        safety: SafetyPolicy | None = None,
        after_turn: AfterTurn | None = None,
        loads_models: bool = True,
        busy: Busy | None = None,
        media: MediaStore | None = None,
        attachments: AttachmentLog | None = None,
        media_wait_s: float = 20.0,
        pictures: PictureMaker | None = None,
        picture_outbox: PictureOutbox | None = None,
        hear_first: HearFirst | None = None,
    ) -> None:
        self._personas = personas
        # False in a cluster's web process: workers run the turns, no model is loaded here.
        self._loads_models = loads_models
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
        self._commands = commands or Commands()
        self._direct = direct
        self._safety = safety or SafetyPolicy(())
        self._after_turn = after_turn
        self._busy = busy
        self._files = TurnFiles(media, attachments, media_wait_s, pictures)
        self._picture_outbox = picture_outbox
        self._catch_up = hear_first
        # The history is a source like the others, asked last (its blocks sort by depth).
        self._sources: tuple[ContextSource, ...] = (
            *sources,
            PostHistorySource(),
            HistorySource(),
        )
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ accept

    def check(self, turn: TurnInput) -> None:
        """Refused before any work: a huge history must not reach the tokenizer at all."""
        if len(turn.text) > self._max_chars:
            raise MessageTooLarge(len(turn.text), self._max_chars)
        if len(turn.history) + 1 > self._max_messages:
            raise TooManyMessages(len(turn.history) + 1, self._max_messages)

    def job_payload(self, turn: TurnInput, route: ReplyRoute | None = None) -> str:
        """The turn job's payload (what process needs besides the stored message), after
        ``check``; for a caller that stores the message itself (channels: admit + accept)."""
        self.check(turn)
        spec = TurnSpec(
            turn.persona, turn.instructions, turn.options, turn.allow_unpublished, route,
            turn.location, turn.contacts,
            turn.pending_media + len(turn.media) + len(turn.heard), turn.spoke or bool(turn.heard),
            turn.language, turn.fetch,
        )  # fmt: skip
        return spec.to_json()

    async def accept(self, turn: TurnInput, route: ReplyRoute | None = None) -> Accepted:
        """Store the person's message once and record its job, in one store transaction;
        the caller submits the job (or uses ``enqueue``). Raises MessageTooLarge,
        TooManyMessages, PersonaNotFound."""
        assert turn.person is not None, "a stateless turn has nothing to accept"
        # One write, in call order: on SQLite's single writer, arrival order is call order.
        accepted = await self._inbox.accept_turn(
            turn.persona,
            turn.person,
            turn.text,
            turn.external_id,
            TURN,
            self.job_payload(turn, route),
            turn.allow_unpublished,
        )
        await self._files.record_uploads(accepted.message.id, turn)
        return accepted

    async def submit(self, job: Job) -> None:
        """Hand an accepted job to the work queue (later than accept, for a deferred one)."""
        await self._work.submit(job)

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
        if self._loads_models and _asks_abilities(turn.options):
            # Refused before the message is stored: nothing to retry, nothing half done.
            record = await self._persona(turn.persona, turn.allow_unpublished)
            check_abilities(await self._engines(record.persona.model), turn.options)
        accepted = await self.accept(turn)
        started = TurnStarted(accepted.conversation.id, accepted.message.id)
        if accepted.reply is not None:
            engine = None
            if self._loads_models:
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
        except RetryLater:
            raise  # the queue runs the job again; whoever waits keeps waiting
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
            if spec.spoke and spec.fetch and spec.route and self._catch_up is not None:
                content = await self._catch_up(message, spec.route, spec.fetch)
                message = replace(message, content=content)
                context = replace(context, message=message)
            command = self._commands.parse(message.content)
            if command is not None:  # answered by its handler, not the model
                await self._command(job, spec, record, context, clock, command)
                return
            engine = await self._engines(record.persona.model)
            revision = record.revision
            await self._events.publish(key, TurnStarted(context.conversation.id, message.id))

            async def emit(delta: TextDelta) -> None:
                await self._events.publish(key, delta)

            said = tuple(Said(m.role, m.content, m.created_at) for m in context.history)
            gate = await self._gate(
                record, message.content, said, context.conversation.channel,
                message.created_at, spec.instructions, phone_of(spec.route), spec.language,
            )  # fmt: skip
            if gate.stop is not None:
                await self._answer_guarded(job, spec, record, context, clock, engine, gate, emit)
                return
            request = ContextRequest(
                persona=record.persona,
                text=message.content,
                history=tuple(
                    HistoryItem(ChatMessage(m.role, m.content), m.id) for m in context.history
                ),
                persona_revision=record.revision,
                person_id=context.conversation.person_id,
                conversation_id=context.conversation.id,
                message_id=message.id,
            )
            images, unreadable, heard = await self._files.message_media(
                message.id, spec.media_count
            )
            prompt = await self._assemble(
                engine, record, spec.instructions, spec.options, request, images, unreadable, heard
            )
            clock.assembled_ms = clock.now_ms()
            if gate.preface:
                await emit(TextDelta(gate.preface))
            generated = await generate(
                engine, record, spec.options, prompt, clock, emit, self._timeout, gate.hold
            )
        except Exception as exc:
            if isinstance(exc, EngineUnavailable) and self._busy and spec.route is not None:
                # A person on a messaging app gets no error: one "give me a moment", and the
                # job runs again (the queue's retry with delay) until an engine answers.
                await self._busy_reply(spec.route, context)
                raise RetryLater(str(exc), self._busy.retry_s) from exc
            # The message stays stored, awaiting a retry; the failure is on record.
            trace = make_trace(engine, prompt, clock, Usage(), None, error=_describe(exc))
            if not isinstance(exc, EngineError | BadRequest):
                revision = None  # not the persona's answer: only the job is marked failed
            await self._turns.fail_turn(context.conversation, message, revision, trace, job.id)
            raise
        trace = generated_trace(engine, prompt, clock, generated, gate.verdicts, gate.guard_ms)
        generated, pictures = await self._files.make_pictures(record, generated)
        speak = _speaks(record.persona, spec)
        video = video_plan(record.persona, context.message, context.history)
        outbox = self._outbox(spec.route, generated.text, speak, video) if spec.route else ()
        if spec.route and pictures and self._picture_outbox is not None:
            outbox = (*outbox, *self._picture_outbox(spec.route, pictures))
        reply, _ = await self._turns.complete_turn(
            context.conversation, message, generated.text, record.revision, trace, job.id, outbox
        )
        await self._files.record_pictures(reply.id, pictures)
        if generated.guarded is not None:
            guarded = ReplyGuarded(generated.text, generated.status, generated.guarded)
            await self._events.publish(key, guarded)
        await self._events.publish(key, finished(generated, trace, reply))
        if self._after_turn is not None:
            try:  # off the reply path: the reply is stored and published already
                await self._after_turn(job, context, reply)
            except Exception:
                log.exception("after-turn work for message %d was not recorded", message.id)

    async def _busy_reply(self, route: ReplyRoute, context: TurnContext) -> None:
        """Sent on the first attempt only: retries while engines stay down say nothing more."""
        assert self._busy is not None
        if context.attempts != 1 or not self._busy.text or self._direct is None:
            return
        try:
            await self._direct(route, self._busy.text)
        except Exception:  # a courtesy; the reply itself still goes through the outbox
            log.exception("the busy reply for message %d was not sent", context.message.id)

    async def _gate(
        self,
        record: PersonaRecord,
        text: str,
        history: tuple[Said, ...],
        channel: str,
        now: datetime | None,
        instructions: str,
        phone: str = "",
        language: str = "",
    ) -> Gate:
        """The input stage: every guard's verdict on the person's message, what the reply
        opens with, and the hold-back window its stream goes through."""
        policy = self._safety
        if not policy.active:
            return Gate()
        persona = record.persona
        person_texts = [m.content for m in history if m.role == "user"] + [text]
        audience = policy.audience(channel, person_texts, phone, language)
        pairs = tuple((m.role, m.content) for m in history)
        check = GuardInput(persona, text, pairs, audience, channel)
        verdict, verdicts = await policy.check_input(check)
        guard_ms = sum(v.latency_ms for v in verdicts)
        prefaces = policy.prefaces(persona, history, now, verdict, audience)
        kept = noteworthy(verdicts)
        if verdict.action in STOPPING:
            return Gate(verdict, kept, guard_ms, prefaces)
        preface = "".join(f"{p}\n\n" for p in prefaces)
        hidden = "\n\n".join(x for x in (render_persona(persona), instructions.strip()) if x)
        # A refusal of a message every guard judged harmless is asked again (over-refusal repair).
        repair = policy.repair_refusals and harmless(verdicts)
        hold = HoldBack(policy, persona, text, hidden, audience, channel, preface, repair)
        return Gate(None, kept, guard_ms, prefaces, preface, hold)

    async def _answer_guarded(
        self,
        job: Job,
        spec: TurnSpec,
        record: PersonaRecord,
        context: TurnContext,
        clock: Clock,
        engine: Engine,
        gate: Gate,
        emit: Emit,
    ) -> None:
        """The input guard answered in the persona's place (refusal, crisis, block)."""
        generated = gate.answer(clock)
        await emit(TextDelta(generated.text))
        trace = generated_trace(engine, None, clock, generated, gate.verdicts, gate.guard_ms)
        speak = _speaks(record.persona, spec)
        outbox = self._outbox(spec.route, generated.text, speak, None) if spec.route else ()
        reply, _ = await self._turns.complete_turn(
            context.conversation, context.message, generated.text, record.revision, trace,
            job.id, outbox,
        )  # fmt: skip
        await self._events.publish(job.message_id, finished(generated, trace, reply))

    async def _command(
        self,
        job: Job,
        spec: TurnSpec,
        record: PersonaRecord,
        context: TurnContext,
        clock: Clock,
        command: tuple[str, str],
    ) -> None:
        key, conversation = job.message_id, context.conversation
        await self._events.publish(key, TurnStarted(conversation.id, context.message.id))
        ask = CommandContext(
            conversation.person_id, conversation.id, conversation.channel, spec.persona,
            command[1], spec.route, context.message.id,
        )  # fmt: skip
        trace = make_trace(None, None, clock, Usage(), "stop")
        try:
            text = await self._commands.run(command[0], ask)
        except PersonForgotten as gone:  # nothing of theirs is left to store a reply with
            if spec.route is not None and self._direct is not None:
                await self._direct(spec.route, gone.reply)
            await self._events.publish(key, TextDelta(gone.reply))
            await self._events.publish(key, TurnFinished(gone.reply, Usage(), "stop", trace))
            return
        await self._events.publish(key, TextDelta(text))
        outbox = self._outbox(spec.route, text, None, None) if spec.route else ()
        reply, _ = await self._turns.complete_turn(
            conversation, context.message, text, record.revision, trace, job.id, outbox
        )
        await self._events.publish(key, TurnFinished(text, Usage(), "stop", trace, reply=reply))

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
            if turn.persona_revision is not None:
                record = await self._personas.get_persona_revision(
                    turn.persona, turn.persona_revision
                )
            else:
                record = await self._persona(turn.persona, turn.allow_unpublished)
            engine = await self._engines(record.persona.model)
            check_abilities(engine, turn.options)
            queue.put_nowait(TurnStarted(None, None))

            async def emit(delta: TextDelta) -> None:
                queue.put_nowait(delta)

            said = tuple(Said(m.role, m.content) for m in turn.history)
            gate = await self._gate(
                record, turn.text, said, STATELESS, None, turn.instructions, "", turn.language
            )
            if gate.stop is not None:
                generated = gate.answer(clock)
                await emit(TextDelta(generated.text))
                trace = generated_trace(
                    engine, None, clock, generated, gate.verdicts, gate.guard_ms
                )
                queue.put_nowait(finished(generated, trace, None))
                return
            request = ContextRequest(
                persona=record.persona,
                text=turn.text,
                history=tuple(HistoryItem(message) for message in turn.history),
                persona_revision=record.revision,
            )
            images = list(turn.media)
            prompt = await self._assemble(
                engine, record, turn.instructions, turn.options, request, images
            )
            clock.assembled_ms = clock.now_ms()
            if gate.preface:
                await emit(TextDelta(gate.preface))
            generated = await generate(
                engine, record, turn.options, prompt, clock, emit, self._timeout, gate.hold
            )
            trace = generated_trace(engine, prompt, clock, generated, gate.verdicts, gate.guard_ms)
            if generated.guarded is not None:
                queue.put_nowait(ReplyGuarded(generated.text, generated.status, generated.guarded))
            queue.put_nowait(finished(generated, trace, None))
        except Exception as exc:  # handed to the caller, who raises it
            queue.put_nowait(TurnFailed(exc))
        finally:
            queue.put_nowait(None)

    async def _assemble(
        self,
        engine: Engine,
        record: PersonaRecord,
        instructions: str,
        options: GenerationOptions,
        request: ContextRequest,
        images: Sequence[ImagePart] = (),
        unreadable: Sequence[MediaRecord] = (),
        heard: Sequence[MediaRecord] = (),
    ) -> AssembledPrompt:
        """Count the fixed parts while every context source looks up its blocks, then fit.
        Images go on the person's message only for an engine that sees them; otherwise the
        seeing notes (core/seeing.py) tell the persona what it cannot look at."""
        counting = CountErrors(engine)
        sees = engine.info.accepts_images
        fixed, blocks = await asyncio.gather(
            count_fixed(
                counting,
                persona_prefix(record.persona),
                instructions,
                request.text,
                images if sees else (),
            ),
            gather_blocks(self._sources, request),
        )
        notes = seeing_blocks(images, unreadable, sees, heard)
        if self._files.makes_pictures(record.persona):
            notes.append(pictures_note())
        return await fit(counting, record, options, fixed, (*notes, *blocks))

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


def _asks_abilities(options: GenerationOptions) -> bool:
    return options.response_format is not None or options.logprobs


# The channel name the safety stages see for stateless /v1 calls (no stored conversation).
STATELESS = "stateless"


@dataclass(frozen=True, slots=True)
class Busy:
    """What a channel turn does while every engine is down: ``text`` sent once (in persona,
    from the settings), then the job runs again every ``retry_s`` seconds."""

    text: str
    retry_s: float


@dataclass(frozen=True)
class Gate:
    """The input stage's outcome: ``stop`` is the verdict that answers in the persona's place
    (None: the persona answers, through ``hold``)."""

    stop: Verdict | None = None
    verdicts: tuple[Verdict, ...] = ()
    guard_ms: float = 0.0
    prefaces: list[str] = field(default_factory=list)
    preface: str = ""
    hold: HoldBack | None = None

    def answer(self, clock: Clock) -> Generated:
        assert self.stop is not None
        stop = self.stop
        status = status_of(stop)
        if status == "crisis":  # out of character: the crisis reply says it is an AI itself
            text = stop.text
        else:
            text = "\n\n".join([*self.prefaces, stop.text or "Sorry, I can't help with that."])
        clock.first_token_ms = clock.now_ms()
        return Generated(text, Usage(), "stop", None, status=status)


def _speaks(persona: Persona, spec: TurnSpec) -> VoiceSettings | None:
    """The persona's voice when this reply is to be spoken, by its voice_replies setting."""
    mode = persona.voice_replies
    return persona.voice if mode == "always" or (mode == "mirror" and spec.spoke) else None


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


__all__ = ["TURN", "Busy", "TurnFinished", "TurnRunner", "TurnSpec", "one_entry"]
