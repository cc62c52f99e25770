"""SqlStore: personas, conversations, messages and turns in SQLite or PostgreSQL.

Each operation is one sync function of a connection, by concept in personas.py,
conversations.py and messages.py, run in one hop by a Runner (runner.py: SQLite in threads,
PostgreSQL through asyncpg); the schema is in tables.py and migrations/. SqlStore implements
the PersonaSource, ConversationLog and TurnLog contracts plus what the HTTP API reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from personae.errors import ConfigError
from personae.stores import analytics as _analytics
from personae.stores import cards as _cards
from personae.stores import channel_state as _channel_state
from personae.stores import connections as _connections
from personae.stores import conversations as _conversations
from personae.stores import limits as _limits
from personae.stores import lore as _lore
from personae.stores import messages as _messages
from personae.stores import outbox as _outbox
from personae.stores import overview as _overview
from personae.stores import people as _people
from personae.stores import personas as _personas
from personae.stores import ratings as _ratings
from personae.stores import tokens as _tokens
from personae.stores import work as _work
from personae.stores.channel_state import MediaRecord
from personae.stores.connect import open_runner
from personae.stores.limits import Admission, Block, Bucket
from personae.stores.migrate import migrate
from personae.stores.runner import Runner
from personae.stores.tokens import AccessToken
from personae.types import (
    Accepted,
    CardRecord,
    ChannelStatus,
    ConnectionRecord,
    ConversationRef,
    ConversationSummary,
    Job,
    LoreTimer,
    OutboxEntry,
    OutboxItem,
    Persona,
    PersonaRecord,
    PersonRef,
    StoredMessage,
    Trace,
    TurnContext,
    TurnRecord,
)

P = ParamSpec("P")
T = TypeVar("T")


class SqlStore:
    """The store over one database URL; open with ``await SqlStore.open(url)``."""

    def __init__(self, runner: Runner) -> None:
        self._run = runner

    @classmethod
    async def open(cls, url: str) -> SqlStore:
        """Connect and migrate to the newest schema (quick when already there)."""
        runner = open_runner(url)
        try:
            await runner.write_alone(migrate)
        except (SQLAlchemyError, OSError) as exc:
            await runner.aclose()
            where = runner.url.render_as_string(hide_password=True)
            raise ConfigError(
                f"cannot open the database {where}: {exc}; check PERSONAE_DATABASE_URL, "
                "that the server is running and that the user may create tables"
            ) from exc
        except BaseException:
            await runner.aclose()
            raise
        return cls(runner)

    async def aclose(self) -> None:
        await self._run.aclose()

    @property
    def runner(self) -> Runner:
        """The store's runner, for stores of other concepts over the same database (memory)."""
        return self._run

    async def run_sync(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn(connection, ...)`` on a read connection: for inspecting the database."""
        return await self._run.read(fn, *args, **kwargs)

    # ------------------------------------------------------------ personas

    async def has_persona(self, slug: str) -> bool:
        """True for any slug ever stored, deleted ones too."""
        return await self._run.read(_personas.has_persona, slug)

    async def list_personas(
        self, include_unpublished: bool = False, latest: bool = False
    ) -> list[PersonaRecord]:
        """Served revisions (``latest``: newest ones) of the personas not deleted, by slug."""
        return await self._run.read(_personas.list_personas, include_unpublished, latest)

    async def get_persona(self, slug: str, latest: bool = False) -> PersonaRecord:
        """The served revision; ``latest``: the newest, a draft when not yet published."""
        return await self._run.read(_personas.get_persona, slug, latest)

    async def get_persona_revision(self, slug: str, revision: int) -> PersonaRecord:
        """Any stored revision, also of a deleted persona."""
        return await self._run.read(_personas.get_revision, slug, revision)

    async def persona_revisions(self, slug: str) -> list[PersonaRecord]:
        """Every revision, oldest first."""
        return await self._run.read(_personas.revisions, slug)

    async def put_persona(
        self, persona: Persona, draft: bool = False, expected: int | None = None
    ) -> PersonaRecord:
        """Create, or add a revision when the spec changed; a deleted slug comes back revived.
        ``draft``: not published; ``expected``: RevisionConflict unless it is the newest."""
        return await self._run.write(_personas.put_persona, persona, draft, expected)

    async def publish_persona(self, slug: str, revision: int) -> PersonaRecord:
        """Serve ``revision`` from now on."""
        return await self._run.write(_personas.publish, slug, revision)

    async def rollback_persona(
        self, slug: str, revision: int, expected: int | None = None
    ) -> PersonaRecord:
        """A new draft revision with ``revision``'s spec."""
        return await self._run.write(_personas.rollback, slug, revision, expected)

    async def delete_persona(self, slug: str) -> None:
        """Soft delete: hidden from get/list, history kept."""
        await self._run.write(_personas.delete_persona, slug)

    async def import_card(self, persona: Persona, record: CardRecord) -> PersonaRecord:
        """Store a persona made from a Character Card, with the card as it came (one
        transaction: both or neither)."""
        return await self._run.write(_cards.import_card, persona, record)

    async def persona_card(self, slug: str) -> CardRecord | None:
        """The card the persona was last imported from, or None."""
        return await self._run.read(_cards.get_card, slug)

    async def persona_activity(self) -> dict[str, tuple[datetime | None, tuple[str, ...]]]:
        """Per persona: when a conversation last moved, and the channels it has talked on."""
        return await self._run.read(_overview.persona_activity)

    async def persona_rows(self) -> list[_overview.PersonaRow]:
        """The studio list's lines: slug, name, tagline, status, last activity; no spec parsed."""
        return await self._run.read(_overview.persona_rows)

    async def persona_channels(self) -> dict[str, tuple[str, ...]]:
        """Per persona: the channel kinds it is bound to or has talked on."""
        return await self._run.read(_overview.persona_channels)

    async def persona_slugs(self) -> list[str]:
        """Every persona not deleted, sorted."""
        return await self._run.read(_overview.persona_slugs)

    # ------------------------------------------------------------ analytics and ratings

    async def analytics(
        self, personas: Sequence[str] | None, start: datetime, end: datetime
    ) -> _analytics.Analytics:
        """Aggregates of [start, end) over these personas (None: all): counts only, never
        content."""
        return await self._run.read(_analytics.analytics, personas, start, end)

    async def rate_web_reply(
        self, message_id: int, person_id: str, channel: str, value: int
    ) -> bool:
        """A person's rating of a reply in their own conversation; False if not theirs."""
        return await self._run.write(_ratings.rate_web_reply, message_id, person_id, channel, value)

    async def rated_replies(
        self,
        personas: Sequence[str],
        value: int | None,
        start: datetime,
        end: datetime,
        limit: int,
        offset: int,
        conversation: str | None = None,
    ) -> tuple[list[_ratings.RatedReply], int]:
        """Rated replies of these personas in [start, end), newest first, and the total."""
        return await self._run.read(
            _ratings.rated_replies, personas, value, start, end, limit, offset, conversation
        )

    # ------------------------------------------------------------ lorebook timers

    async def lore_timers(self, conversation_id: str) -> dict[str, LoreTimer]:
        return await self._run.read_now(_lore.get_lore_timers, conversation_id)

    async def save_lore_timers(self, conversation_id: str, timers: Sequence[LoreTimer]) -> None:
        await self._run.write(_lore.save_lore_timers, conversation_id, timers)

    # ------------------------------------------------------------ people and conversations

    async def open_conversation(self, persona_slug: str, person: PersonRef) -> ConversationRef:
        return await self._run.write(_conversations.open_conversation, persona_slug, person)

    async def get_conversation(self, conversation_id: str) -> ConversationRef:
        return await self._run.read(_conversations.get_conversation, conversation_id)

    async def list_conversations(
        self,
        persona: str | None = None,
        person_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ConversationSummary]:
        """Most recently active first."""
        return await self._run.read(
            _conversations.list_conversations, persona, person_id, limit, offset
        )

    async def find_person(self, person: PersonRef) -> str | None:
        return await self._run.read(_conversations.find_person, person)

    async def person_ref(self, person_id: str, channel: str) -> PersonRef:
        """How ``channel`` knows a stored person; NotFound if it does not."""
        return await self._run.read(_conversations.person_ref, person_id, channel)

    # ------------------------------------------------------------ messages and turns

    async def history(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        return await self._run.read(_messages.history, conversation_id, limit)

    async def conversation_messages(self, conversation_id: str) -> list[StoredMessage]:
        return await self._run.read(_messages.all_messages, conversation_id)

    async def add_inbound(
        self, conversation: ConversationRef, text: str, external_id: str | None
    ) -> tuple[StoredMessage, StoredMessage | None]:
        return await self._run.write(_messages.add_inbound, conversation, text, external_id)

    async def complete_turn(
        self,
        conversation: ConversationRef,
        inbound: StoredMessage,
        reply_text: str,
        persona_revision: int,
        trace: Trace,
        job_id: int | None = None,
        outbox: Sequence[OutboxItem] = (),
    ) -> tuple[StoredMessage, TurnRecord]:
        """Reply, turn, job done and outbox in one transaction; a second completion returns
        the first one."""
        return await self._run.write(
            _messages.complete_turn,
            conversation,
            inbound,
            reply_text,
            persona_revision,
            trace,
            job_id,
            outbox,
        )

    async def fail_turn(
        self,
        conversation: ConversationRef,
        inbound: StoredMessage,
        persona_revision: int | None,
        trace: Trace,
        job_id: int | None = None,
    ) -> TurnRecord | None:
        return await self._run.write(
            _messages.fail_turn, conversation, inbound, persona_revision, trace, job_id
        )

    # ------------------------------------------------------------ work

    async def accept_turn(
        self,
        persona_slug: str,
        person: PersonRef,
        text: str,
        external_id: str | None,
        kind: str,
        payload: str,
        allow_unpublished: bool = False,
    ) -> Accepted:
        # First: a webhook answers only after this, while turns' writes can wait a moment.
        return await self._run.write_first(
            _work.accept_turn,
            persona_slug,
            person,
            text,
            external_id,
            kind,
            payload,
            allow_unpublished,
        )

    async def admit_and_accept(
        self,
        buckets: Sequence[Bucket],
        now: float,
        persona_slug: str,
        person: PersonRef,
        text: str,
        external_id: str | None,
        kind: str,
        payload: str,
        allow_unpublished: bool = False,
    ) -> tuple[Admission, Accepted | None]:
        """admit, then accept_turn unless the person is blocked: a webhook's one write."""
        return await self._run.write_first(
            _work.admit_and_accept,
            buckets,
            now,
            persona_slug,
            person,
            text,
            external_id,
            kind,
            payload,
            allow_unpublished,
        )

    async def begin_turn(self, job: Job, history_limit: int) -> TurnContext:
        return await self._run.write(_work.begin_turn, job, history_limit)

    async def record_job(
        self, conversation_id: str, message_id: int, kind: str, payload: str
    ) -> Job:
        """A job of ``kind`` for a message (after-turn work), recorded once."""
        return await self._run.write(_work.record_job, conversation_id, message_id, kind, payload)

    async def claim_job(self, job_id: int) -> bool:
        return await self._run.write(_work.claim_job, job_id)

    async def settle_job(self, job_id: int, error: str | None) -> None:
        await self._run.write(_work.settle_job, job_id, error)

    async def work_depth(self) -> dict[str, tuple[int, datetime | None]]:
        """Unfinished jobs by kind: their number and the oldest one's creation time."""
        return await self._run.read(_work.work_backlog)

    async def unfinished_work(self, kinds: Sequence[str]) -> list[Job]:
        return await self._run.read(_work.unfinished_work, kinds)

    async def work_backlog(
        self, conversation_id: str, kind: str, upto_message_id: int
    ) -> list[tuple[Job, int, str | None]]:
        return await self._run.read(_work.backlog, conversation_id, kind, upto_message_id)

    async def note_job_error(self, job_id: int, error: str) -> None:
        await self._run.write(_work.note_error, job_id, error)

    async def park_job(self, job_id: int, attempts: int, error: str | None) -> bool:
        return await self._run.write(_work.park_job, job_id, attempts, error)

    async def parked_jobs(self, limit: int = 100) -> list[tuple[Job, int, str, datetime]]:
        return await self._run.read(_work.parked_jobs, limit)

    async def turn_outcomes(
        self, message_ids: Sequence[int]
    ) -> dict[int, tuple[StoredMessage | None, str | None]]:
        """Ended turns of these messages: reply (None: failed) and error, by message id."""
        return await self._run.read(_work.turn_outcomes, message_ids)

    async def pending_work(self) -> int:
        return await self._run.read(_work.pending_work)

    async def ping(self) -> bool:
        """The database answers (for /readyz); False when it does not."""
        try:
            return await asyncio.wait_for(self._run.read(_work.ping), 3)
        except Exception:
            return False

    async def stale_work(self, kinds: Sequence[str], before: datetime, limit: int) -> list[Job]:
        return await self._run.read(_work.stale_work, kinds, before, limit)

    async def safety_counts(self, persona_slug: str) -> dict[str, int]:
        """The persona's turns by status (ok, refused, crisis, blocked, rewritten, failed)."""
        return await self._run.read(_messages.safety_counts, persona_slug)

    async def conversation_turns(self, conversation_id: str) -> list[TurnRecord]:
        """Every turn with its trace, oldest first."""
        return await self._run.read(_messages.conversation_turns, conversation_id)

    # ------------------------------------------------------------ channel connections

    async def list_connections(self) -> list[ConnectionRecord]:
        """Connections added through the API or CLI, by kind and key."""
        return await self._run.read(_connections.list_connections)

    async def add_connection(self, record: ConnectionRecord) -> bool:
        """Store a new connection; False when its (kind, key) is already stored."""
        return await self._run.write(_connections.add_connection, record)

    async def remove_connection(self, kind: str, key: str) -> bool:
        """False when no such connection was stored."""
        return await self._run.write(_connections.remove_connection, kind, key)

    # ------------------------------------------------------------ channel state

    async def add_attachment(self, record: MediaRecord) -> bool:
        """Record a message's attachment once; False when it was recorded already."""
        return await self._run.write(_channel_state.add_attachment, record)

    async def record_heard(
        self, message_id: int, position: int, transcript: str, content: str
    ) -> None:
        """An audio attachment's transcript, which becomes the message's text."""
        await self._run.write(
            _channel_state.record_heard, message_id, position, transcript, content
        )

    async def message_attachments(self, message_id: int) -> list[MediaRecord]:
        return await self._run.read(_channel_state.message_attachments, message_id)

    async def add_channel_event(
        self,
        kind: str,
        channel: str,
        platform_message_id: str,
        peer_id: str,
        data: dict[str, str],
        at: datetime,
    ) -> None:
        """A reaction or an echo, kept for the record (no turn)."""
        await self._run.write(
            _channel_state.add_channel_event, kind, channel, platform_message_id, peer_id, data, at
        )

    async def mark_deleted(self, channel: str, external_ids: Sequence[str], at: datetime) -> int:
        return await self._run.write(_channel_state.mark_deleted, channel, external_ids, at)

    # ------------------------------------------------------------ outbox delivery

    async def due_deliveries(self, now: datetime, limit: int) -> tuple[list[str], datetime | None]:
        """Conversations whose first unsent row is due, and when the next one will be."""
        return await self._run.read(_outbox.due_conversations, now, limit)

    async def outbox_head(self, conversation_id: str) -> OutboxEntry | None:
        return await self._run.read(_outbox.head, conversation_id)

    async def claim_delivery(self, row_id: int) -> bool:
        return await self._run.write(_outbox.claim, row_id)

    async def delivery_sent(self, row_id: int, platform_id: str | None, recipient: str) -> None:
        # First: until this commits, a crash sends the reply again (the at-least-once window).
        await self._run.write_first(_outbox.mark_sent, row_id, platform_id, recipient)

    async def delivery_retry(
        self, row_id: int, wait_s: float, code: str | None, error: str
    ) -> None:
        await self._run.write(_outbox.mark_retry, row_id, wait_s, code, error)

    async def delivery_failed(self, row_id: int, code: str | None, error: str) -> int:
        return await self._run.write(_outbox.mark_failed, row_id, code, error)

    async def recover_deliveries(
        self,
        confirming: Sequence[str] = (),
        wait_s: float = 0.0,
        conversation_id: str | None = None,
    ) -> int:
        # A store function, not a closure: the worker's writes travel by name (forwarded.py).
        return await self._run.write(_outbox.recover_sending, confirming, wait_s, conversation_id)

    async def last_inbound(self, conversation_id: str) -> datetime | None:
        return await self._run.read(_outbox.last_inbound, conversation_id)

    async def record_delivery_status(self, event: ChannelStatus) -> int:
        return await self._run.write(_outbox.record_status, event)

    async def conversation_outbox(self, conversation_id: str) -> list[OutboxEntry]:
        return await self._run.read(_outbox.conversation_outbox, conversation_id)

    # ------------------------------------------------------------ access tokens

    async def create_token(
        self, name: str, role: str, personas: tuple[str, ...], token: str
    ) -> AccessToken:
        return await self._run.write(_tokens.create_token, name, role, personas, token)

    async def list_tokens(self) -> list[AccessToken]:
        return await self._run.read(_tokens.list_tokens)

    async def revoke_token(self, token_id: str) -> AccessToken:
        return await self._run.write(_tokens.revoke_token, token_id)

    async def find_token(self, token: str) -> AccessToken | None:
        return await self._run.read(_tokens.find_token, token)

    # ------------------------------------------------------------ abuse limits

    async def admit(
        self,
        buckets: Sequence[Bucket],
        now: float,
        person: PersonRef | None = None,
        ip: str | None = None,
    ) -> Admission:
        """Blocklist, then a token from every bucket (all or none), in one transaction."""
        # First: a webhook or a chat message waits on this before anything else.
        return await self._run.write_first(_limits.admit, buckets, now, person, ip)

    async def add_block(self, kind: str, value: str, reason: str) -> Block:
        return await self._run.write(_limits.add_block, kind, value, reason)

    async def remove_block(self, kind: str, value: str) -> bool:
        return await self._run.write(_limits.remove_block, kind, value)

    async def list_blocks(self) -> list[Block]:
        return await self._run.read(_limits.list_blocks)

    # ------------------------------------------------------------ a person's data

    async def export_person(self, person_id: str) -> dict[str, Any]:
        return await self._run.read(_people.export_person, person_id)

    async def delete_person(self, person_id: str) -> int:
        """Every row about the person, then their media files no one else sent; returns the
        number of files removed."""
        files = await self._run.write(_people.delete_person, person_id)
        await asyncio.to_thread(_unlink_all, files)
        return len(files)

    async def request_deletion(self, person_id: str, valid_s: float) -> datetime:
        return await self._run.write(_people.request_deletion, person_id, valid_s)

    async def deletion_pending(self, person_id: str) -> bool:
        return await self._run.read(_people.deletion_pending, person_id)

    async def request_export(self, person_id: str, valid_s: float) -> str:
        return await self._run.write(_people.request_export, person_id, valid_s)

    async def export_by_token(self, token: str) -> dict[str, Any]:
        return await self._run.read(_people.export_by_token, token)


def _unlink_all(files: Sequence[str]) -> None:
    for name in files:
        Path(name).unlink(missing_ok=True)
