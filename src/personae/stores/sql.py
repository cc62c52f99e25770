"""SqlStore: personas, conversations, messages and turns in SQLite or PostgreSQL.

One async SQLAlchemy engine; the queries live by concept in personas.py, conversations.py
and messages.py, the schema in tables.py and migrations/. SqlStore implements the
PersonaSource, ConversationLog and TurnLog contracts plus what the HTTP API reads.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from personae.errors import ConfigError
from personae.stores import conversations as _conversations
from personae.stores import messages as _messages
from personae.stores import personas as _personas
from personae.stores.connect import make_engine
from personae.stores.migrate import migrate
from personae.types import (
    ConversationRef,
    ConversationSummary,
    Persona,
    PersonaRecord,
    PersonRef,
    StoredMessage,
    Trace,
    TurnRecord,
)


class SqlStore:
    """The store over one database URL; open with ``await SqlStore.open(url)``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> SqlStore:
        """Connect and migrate to the newest schema (quick when already there)."""
        engine = make_engine(url)
        try:
            await migrate(engine)
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            where = engine.url.render_as_string(hide_password=True)
            raise ConfigError(
                f"cannot open the database {where}: {exc}; check PERSONAE_DATABASE_URL, "
                "that the server is running and that the user may create tables"
            ) from exc
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def aclose(self) -> None:
        await self.engine.dispose()

    # ------------------------------------------------------------ personas

    async def has_persona(self, slug: str) -> bool:
        """True for any slug ever stored, deleted ones too."""
        return await _personas.has_persona(self.engine, slug)

    async def list_personas(self, include_unpublished: bool = False) -> list[PersonaRecord]:
        """Current revisions of the personas not deleted, by slug."""
        return await _personas.list_personas(self.engine, include_unpublished)

    async def get_persona(self, slug: str) -> PersonaRecord:
        return await _personas.get_persona(self.engine, slug)

    async def get_persona_revision(self, slug: str, revision: int) -> PersonaRecord:
        """Any stored revision, also of a deleted persona."""
        return await _personas.get_revision(self.engine, slug, revision)

    async def persona_revisions(self, slug: str) -> list[PersonaRecord]:
        """Every revision, oldest first."""
        return await _personas.revisions(self.engine, slug)

    async def put_persona(self, persona: Persona) -> PersonaRecord:
        """Create, or add a revision when the spec changed; a deleted slug comes back revived."""
        return await _personas.put_persona(self.engine, persona)

    async def delete_persona(self, slug: str) -> None:
        """Soft delete: hidden from get/list, history kept."""
        await _personas.delete_persona(self.engine, slug)

    # ------------------------------------------------------------ people and conversations

    async def open_conversation(self, persona_slug: str, person: PersonRef) -> ConversationRef:
        return await _conversations.open_conversation(self.engine, persona_slug, person)

    async def get_conversation(self, conversation_id: str) -> ConversationRef:
        return await _conversations.get_conversation(self.engine, conversation_id)

    async def list_conversations(
        self,
        persona: str | None = None,
        person_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ConversationSummary]:
        """Most recently active first."""
        return await _conversations.list_conversations(
            self.engine, persona, person_id, limit, offset
        )

    async def find_person(self, person: PersonRef) -> str | None:
        return await _conversations.find_person(self.engine, person)

    async def person_ref(self, person_id: str, channel: str) -> PersonRef:
        """How ``channel`` knows a stored person; NotFound if it does not."""
        return await _conversations.person_ref(self.engine, person_id, channel)

    # ------------------------------------------------------------ messages and turns

    async def history(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        return await _messages.history(self.engine, conversation_id, limit)

    async def conversation_messages(self, conversation_id: str) -> list[StoredMessage]:
        return await _messages.all_messages(self.engine, conversation_id)

    async def add_inbound(
        self, conversation: ConversationRef, text: str, external_id: str | None
    ) -> tuple[StoredMessage, StoredMessage | None]:
        return await _messages.add_inbound(self.engine, conversation, text, external_id)

    async def complete_turn(
        self,
        conversation: ConversationRef,
        inbound: StoredMessage,
        reply_text: str,
        persona_revision: int,
        trace: Trace,
    ) -> tuple[StoredMessage, TurnRecord]:
        """Reply and turn in one transaction; a second completion returns the first one."""
        return await _messages.complete_turn(
            self.engine, conversation, inbound, reply_text, persona_revision, trace
        )

    async def fail_turn(
        self,
        conversation: ConversationRef,
        inbound: StoredMessage,
        persona_revision: int,
        trace: Trace,
    ) -> TurnRecord:
        return await _messages.fail_turn(
            self.engine, conversation, inbound, persona_revision, trace
        )

    async def conversation_turns(self, conversation_id: str) -> list[TurnRecord]:
        """Every turn with its trace, oldest first."""
        return await _messages.conversation_turns(self.engine, conversation_id)
