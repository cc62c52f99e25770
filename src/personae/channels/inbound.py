"""Inbound: from a channel's events to accepted turns, the same way for webhooks and polling.

Every person's message of a batch is accepted (stored once, its job recorded and submitted)
before ``accept`` returns, so a webhook answers 200 only for what is safely stored and a
redelivery is a no-op. What follows the acknowledgement never delays or fails it: the read
receipt and typing indicator, and fetching media, run as tasks after accept. Reactions,
echoes and deletions are stored for the record and start no turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from personae.channels.describe import clean, clean_contacts, clean_location, turn_text
from personae.channels.hearing import hear, spoke, unheard
from personae.channels.media import fetch_all
from personae.channels.registry import Connections
from personae.contracts import Channel, MediaStore, WebhookHandler, WebhookRequest, WebhookResult
from personae.core.locale import MAX_TAG
from personae.core.turn import TURN, TurnRunner
from personae.errors import PersonaNotFound
from personae.media.sniff import MediaLimits
from personae.media.store import FolderMediaStore
from personae.settings import Settings
from personae.stores.limits import Bucket, buckets_for
from personae.stores.sql import SqlStore
from personae.types import (
    Accepted,
    Attachment,
    ChannelDeletion,
    ChannelEcho,
    ChannelMessage,
    ChannelReaction,
    ChannelStatus,
    InboundEvent,
    Job,
    PersonRef,
    ReadMark,
    ReplyRoute,
    StoredMessage,
    TurnInput,
)
from personae.voice.notes import VoiceNotes
from personae.work.pressure import LoopPressure

log = logging.getLogger("personae.channels")
StatusSink = Callable[[ChannelStatus], Awaitable[object]]
CALL_TIMEOUT_S = 10.0
# Read receipts and typing indicators in flight at once: under a burst the rest wait their
# turn (and collapse, see _acknowledge) instead of queueing inside the HTTP pool, whose cost
# grows with its queue and would starve the webhooks on the same event loop.
ACK_SLOTS = 4
# Chats whose newest read message is remembered (to drop marks of older ones), at most.
READ_CHATS = 10_000
Chat = tuple[str, str, str]  # channel, connection, chat id
_CUT_NOTE = "\n[The message was cut here: it was too long]"


def person_channel(kind: str, connection_key: str) -> str:
    """Where a channel's people live: one namespace per connection, e.g. "whatsapp:1065..."."""
    return f"{kind}:{connection_key}"


@dataclass(frozen=True, slots=True)
class _New:
    message: ChannelMessage
    accepted: Accepted


class Inbound:
    """The runtime's inbound side: webhook handlers by kind, accept, and after-accept tasks."""

    def __init__(
        self,
        settings: Settings,
        connections: Connections,
        turns: TurnRunner,
        store: SqlStore,
        on_status: StatusSink | None = None,
        pressure: LoopPressure | None = None,
        media: MediaStore | None = None,
        voice: VoiceNotes | None = None,
        hand_off: Callable[[ReadMark], None] | None = None,
    ) -> None:
        self.settings = settings
        self._voice = voice  # hears voice notes; None: audio stays a described attachment
        self._pressure = pressure  # read receipts wait while webhooks need the loop more
        self.connections = connections
        self._turns = turns
        self._store = store
        self.on_status = on_status
        # One client for every call after accept (read receipts, typing, media), closed last.
        self.http = httpx.AsyncClient(timeout=CALL_TIMEOUT_S)
        self._handlers: dict[str, tuple[int, WebhookHandler]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ack_slots = asyncio.Semaphore(ACK_SLOTS)
        self._newest: dict[Chat, ReadMark] = {}  # chat -> to acknowledge
        self._read: dict[Chat, int] = {}  # chat -> the newest stored id marked read
        # Where read receipts go when another process sends them (None: sent from here).
        self._hand_off = hand_off
        self._media = media or FolderMediaStore(settings.home / "media", MediaLimits.of(settings))
        # Jobs over an abuse limit, stored and waiting their turn, by conversation (in order).
        self._deferred: dict[str, list[Job]] = {}

    # ------------------------------------------------------------ webhooks

    def handler(self, kind: str) -> WebhookHandler | None:
        """The kind's webhook handler over its current connections (rebuilt when they change);
        None for a kind no channel registered."""
        spec = self.connections.specs.get(kind)
        if spec is None:
            return None
        revision = self.connections.revision
        cached = self._handlers.get(kind)
        if cached is not None and cached[0] == revision:
            return cached[1]
        built = spec.handler(self.connections.of_kind(kind), self.settings)
        self._handlers[kind] = (revision, built)
        return built

    async def webhook(self, kind: str, request: WebhookRequest) -> WebhookResult | None:
        """Verify and accept one webhook request; None for an unknown kind. Raises when the
        store fails, so the platform gets a 5xx and delivers again."""
        handler = self.handler(kind)
        if handler is None:
            return None
        if self._pressure is not None:
            self._pressure.note_request()
        result = await handler.handle(request)
        if result.status == 200 and result.events:
            await self.accept(result.events)
        return result

    # ------------------------------------------------------------ accept

    async def accept(self, events: Iterable[InboundEvent]) -> None:
        """Store every event of a batch, in order; then start the after-accept tasks."""
        new: list[_New] = []
        for event in events:
            if isinstance(event, ChannelMessage):
                accepted = await self._accept_message(event)
                if accepted is not None and accepted.new_work:
                    new.append(_New(event, accepted))
            else:
                await self._record(event)
        for item in new:
            self.spawn(self._after_accept(item))

    async def _accept_message(self, message: ChannelMessage) -> Accepted | None:
        """Store the message and submit its job (or defer it, over a rate limit). A voice
        note's job goes in line at once, like any message: its worker hears it first
        (``hear_first``), so what the person sends next is answered after it."""
        kind, key = message.channel, message.connection
        connection = self.connections.find(kind, key)
        spec = self.connections.specs.get(kind)
        if connection is None or spec is None:  # removed since the handler was built
            log.warning("%s message for unknown account %s dropped", kind, key)
            return None
        text = turn_text(message, spec.abilities.media_types)
        limit = self.settings.max_message_chars
        if len(text) > limit:
            text = text[: limit - len(_CUT_NOTE)] + _CUT_NOTE
        turn = TurnInput(
            connection.persona,
            text,
            person=PersonRef(person_channel(kind, key), clean(message.sender_id)),
            external_id=clean(message.message_id),
            allow_unpublished=True,  # the admin bound this persona to the account
            location=clean_location(message.location),
            contacts=clean_contacts(message.contacts),
            pending_media=len(message.attachments),  # fetched after accept; the turn waits
            fetch=message.attachments,  # on the job: a restart fetches and hears them again
            spoke=spoke(message),
            language=clean(message.sender_language or "")[:MAX_TAG],
        )
        route = ReplyRoute(kind, key, clean(message.chat_id))
        assert turn.person is not None
        buckets = buckets_for(self.settings, person=turn.person, connection=turn.person.channel)
        try:
            # One write (one hop, one batch of the writer): rate buckets and blocklist, then
            # the message and its job, committed before the webhook is answered.
            admission, accepted = await self._store.admit_and_accept(
                buckets, time.time(), turn.persona, turn.person, turn.text, turn.external_id,
                TURN, self._turns.job_payload(turn, route), turn.allow_unpublished,
            )  # fmt: skip
        except PersonaNotFound:
            log.warning(
                "%s %s: persona %r is gone; message %s not answered (fix the connection)",
                message.channel, message.connection, connection.persona, message.message_id,
            )  # fmt: skip
            return None
        if accepted is None:  # an admin blocked them: not stored, not answered
            log.info("%s message %s from a blocked person dropped", kind, message.message_id)
            return None
        job = accepted.job
        if job is None:
            return accepted
        waiting = self._deferred.get(accepted.conversation.id)
        if admission.retry_after > 0 or waiting is not None:
            self._defer(job, buckets, turn.person, admission.retry_after)
        else:
            await self._turns.submit(job)
        return accepted

    def _defer(self, job: Job, buckets: list[Bucket], person: PersonRef, wait_s: float) -> None:
        """Over a limit on a channel the message is stored (the platform got its 200 and must
        not resend) and its turn waits until the buckets allow it, in arrival order. A restart
        meanwhile loses nothing: the job is recorded, and resumed at start-up."""
        queue = self._deferred.get(job.conversation_id)
        if queue is not None:
            if all(j.id != job.id for j in queue):
                queue.append(job)
            return
        self._deferred[job.conversation_id] = [job]
        log.info("conversation %s over its rate limit: turn deferred", job.conversation_id)
        self.spawn(self._drain_deferred(job.conversation_id, buckets, person, wait_s))

    async def _drain_deferred(
        self, conversation_id: str, buckets: list[Bucket], person: PersonRef, wait_s: float
    ) -> None:
        queue = self._deferred[conversation_id]
        try:
            while queue:
                await asyncio.sleep(wait_s)
                admission = await self._store.admit(buckets, time.time(), person)
                if admission.blocked is not None:
                    return  # blocked meanwhile: the jobs stay recorded, unanswered
                wait_s = admission.retry_after
                if wait_s <= 0:
                    await self._turns.submit(queue.pop(0))
        finally:
            del self._deferred[conversation_id]

    async def _record(self, event: InboundEvent) -> None:
        """Reactions, echoes, deletions and statuses: state, never a turn."""
        where = person_channel(event.channel, event.connection)
        if isinstance(event, ChannelReaction):
            data = {"emoji": clean(event.emoji)}
            await self._store.add_channel_event(
                "reaction", where, event.message_id, event.sender_id, data, event.at
            )
        elif isinstance(event, ChannelEcho):
            data = {"text": clean(event.text)}
            await self._store.add_channel_event(
                "echo", where, event.message_id, event.recipient_id, data, event.at
            )
            if event.tag is not None and self.on_status is not None:
                # Our own send, echoed with its tag: the platform confirms it went out.
                sent = ChannelStatus(
                    event.channel, event.connection, "sent", event.recipient_id, event.at,
                    message_id=event.message_id, tag=event.tag,
                )  # fmt: skip
                await self.on_status(sent)
        elif isinstance(event, ChannelDeletion):
            await self._store.mark_deleted(where, [event.message_id], event.at)
        elif isinstance(event, ChannelStatus):
            if self.on_status is not None:
                await self.on_status(event)
            else:
                log.debug("status %s of %s on %s", event.state, event.message_id, where)

    # ------------------------------------------------------------ after accept

    def channel(self, kind: str, key: str) -> Channel | None:
        connection = self.connections.find(kind, key)
        spec = self.connections.specs.get(kind)
        if connection is None or spec is None:
            return None
        return spec.channel(connection, self.settings, self.http)

    async def _after_accept(self, item: _New) -> None:
        try:
            await self._acknowledge_and_fetch(item)
        except Exception:
            log.warning("after-accept work of %s failed", item.message.message_id, exc_info=True)

    async def _acknowledge_and_fetch(self, item: _New) -> None:
        message = item.message
        channel = self.channel(message.channel, message.connection)
        if channel is None:
            return
        if channel.abilities.supports_typing:
            mark = ReadMark(message.channel, message.connection, message.chat_id,
                            message.message_id, item.accepted.message.id)  # fmt: skip
            if self._hand_off is not None:  # the worker process sends it (work/relay.py)
                self._hand_off(mark)
            else:
                if self._pressure is not None:
                    await self._pressure.calm()
                await self._acknowledge(channel, mark)
        if not message.attachments:
            return
        # Audio that is to be heard is the turn's worker's to fetch (hear_first): one download.
        audio = _audio_positions(message.attachments) if self._voice is not None else set()
        await fetch_all(
            channel, self._store, self._media, item.accepted.message.id, message.attachments,
            recorded=audio,
        )  # fmt: skip

    async def hear_first(
        self, message: StoredMessage, route: ReplyRoute, attachments: Sequence[Attachment]
    ) -> str:
        """The text of a person's message with a voice note, heard: the turn's worker calls
        this before the turn reads the text, so the turn waits for the transcript in its
        conversation's order. The audio is fetched by its platform reference (kept on the
        job, so a restart does it again). A message heard already (a turn resumed after a
        crash) costs nothing: its text no longer holds the placeholder."""
        channel = self.channel(route.channel, route.connection)
        if channel is None or self._voice is None:
            return message.content
        limits = channel.abilities.media_types
        if not unheard(message.content, attachments, limits):
            return message.content
        log.info("message %d: its voice note was not heard before a restart", message.id)
        try:
            records = await self._store.message_attachments(message.id)
            others = set(range(len(attachments))) - _audio_positions(attachments)
            fetched = await fetch_all(  # the rest is the after-accept task's
                channel, self._store, self._media, message.id, attachments,
                recorded={r.position for r in records} | others,
            )  # fmt: skip
            return await hear(
                self._voice, self._store, self._media, message.id, message.content, attachments,
                sorted([*records, *fetched], key=lambda r: r.position), limits,
                self.settings.max_message_chars,
            )  # fmt: skip
        except Exception:  # the store or the platform down: the turn answers what it has
            log.warning("voice note of message %d not heard", message.id, exc_info=True)
            return message.content

    def acknowledge(self, mark: ReadMark) -> None:
        """Mark read and show typing, handed over by the serving process (the worker's side
        of work/relay.py: the HTTP calls cost CPU that the acknowledgements need)."""
        channel = self.channel(mark.channel, mark.connection)
        if channel is not None and channel.abilities.supports_typing:
            self.spawn(self._acknowledge(channel, mark))

    async def _acknowledge(self, channel: Channel, message: ReadMark) -> None:
        """Mark read and show typing for the chat's newest message. A chat's messages that
        arrive while its acknowledgement waits for a slot collapse into one call for the
        newest: reading a message marks the earlier ones read, and typing is per chat.
        Marks come in any order (each message's after-accept work is a task of its own):
        the newest is the one stored last, and one older than a message read already is
        dropped."""
        chat = (message.channel, message.connection, message.chat_id)
        if message.stored_id and message.stored_id <= self._read.get(chat, 0):
            return
        waiting = self._newest.get(chat)
        if waiting is None or message.stored_id >= waiting.stored_id:
            self._newest[chat] = message
        if waiting is not None:
            return
        async with self._ack_slots:
            newest = self._newest.pop(chat)
            if newest.stored_id > self._read.get(chat, 0):
                self._read.pop(chat, None)  # re-inserted last: the oldest chats go first
                self._read[chat] = newest.stored_id
                if len(self._read) > READ_CHATS:  # one added at a time: one out
                    del self._read[next(iter(self._read))]
            result = await channel.acknowledge(newest.chat_id, newest.message_id)
        if result.outcome != "sent":
            log.info("%s acknowledge failed: %s", message.channel, result.error)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on its own; a failure is logged, never raised to the webhook."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("after-accept task failed", exc_info=task.exception())

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Let after-accept tasks finish (briefly), then close the shared client."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
        for task in list(self._tasks):
            task.cancel()
        await self.http.aclose()


def _audio_positions(attachments: Sequence[Attachment]) -> set[int]:
    return {i for i, a in enumerate(attachments) if a.kind == "audio"}
