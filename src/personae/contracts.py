"""One Protocol per boundary; the core depends on these, adapters implement them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from personae.types import (
    ChatMessage,
    ConversationRef,
    EngineInfo,
    GenerationChunk,
    GenerationRequest,
    PersonaRecord,
    PersonRef,
    StoredMessage,
    Trace,
    TurnRecord,
)

if TYPE_CHECKING:
    from personae.settings import Settings


@runtime_checkable
class Engine(Protocol):
    """A language model that streams chat replies.

    ``info`` is data (name, model, context window, parallel slots), not a method.
    """

    info: EngineInfo

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Tokens each message costs inside the chat template, with the engine's own tokenizer."""
        ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Stream the reply; the last chunk carries finish_reason and usage.

        Raises EngineUnavailable (transient) or EngineError (permanent).
        """
        ...

    async def aclose(self) -> None:
        """Release the model, threads and connections."""
        ...


# A factory builds a ready engine for a model name (None: the engine's default).
EngineFactory = Callable[["Settings", str | None], Awaitable[Engine]]


class PersonaSource(Protocol):
    async def get_persona(self, slug: str) -> PersonaRecord:
        """The current revision of a persona; raises PersonaNotFound."""
        ...


class ConversationLog(Protocol):
    async def open_conversation(self, persona_slug: str, person: PersonRef) -> ConversationRef:
        """Find or create the conversation persona × person × channel."""
        ...

    async def history(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        """The last ``limit`` messages, oldest first."""
        ...

    async def add_inbound(
        self, conversation: ConversationRef, text: str, external_id: str | None
    ) -> tuple[StoredMessage, StoredMessage | None]:
        """Store a person's message once; returns (message, its reply if one was already sent).

        A retried message (same external id, or the same text still awaiting its reply) is not
        stored twice.
        """
        ...


class TurnLog(Protocol):
    async def complete_turn(
        self,
        conversation: ConversationRef,
        inbound: StoredMessage,
        reply_text: str,
        persona_revision: int,
        trace: Trace,
    ) -> tuple[StoredMessage, TurnRecord]:
        """Store the reply and the turn's trace together, atomically."""
        ...

    async def fail_turn(
        self,
        conversation: ConversationRef,
        inbound: StoredMessage,
        persona_revision: int,
        trace: Trace,
    ) -> TurnRecord:
        """Record a failed turn; the inbound message stays, awaiting a retry."""
        ...
