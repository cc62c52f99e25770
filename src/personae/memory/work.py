"""Memory's after-turn work: a ``memory`` job per answered message, run by the same work
queue as turns (so it is durable, resumed after a restart, and ordered within the
conversation: it runs before the conversation's next turn), never on the reply path."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from personae.contracts import Engine, WorkQueue
from personae.memory.engine_extract import extract_with_engine
from personae.memory.service import MemoryService
from personae.memory.summary import summarize_if_due
from personae.stores.sql import SqlStore
from personae.types import Job, ModelSettings, StoredMessage, TurnContext
from personae.types.memory import NewMemory

EngineFor = Callable[[ModelSettings], Awaitable[Engine]]

MEMORY = "memory"
log = logging.getLogger(__name__)


class MemoryWork:
    def __init__(
        self,
        store: SqlStore,
        memory: MemoryService,
        work: WorkQueue,
        *,
        run_here: bool = True,
        engines: EngineFor | None = None,
        summary_every: int = 0,
    ) -> None:
        self._summary_every = summary_every
        self._store = store
        # The persona's engine, for personas whose memory uses the engine extractor.
        self._engines = engines
        self._memory = memory
        self._work = work
        # False for a CLI command beside the server: the job is recorded and the server (which
        # resumes recorded work) runs it, so a short-lived command never exits mid-job.
        self._run_here = run_here

    async def after_turn(self, job: Job, context: TurnContext, reply: StoredMessage) -> None:
        """Record the memory job of this turn and hand it to the queue."""
        conversation = context.conversation
        payload = json.dumps(
            {
                "persona": conversation.persona_id,
                "person_id": conversation.person_id,
                "reply_id": reply.id,
            }
        )
        recorded = await self._store.record_job(
            conversation.id, context.message.id, MEMORY, payload
        )
        if self._run_here:
            await self._work.submit(recorded)

    async def _engine_facts(self, model: ModelSettings, text: str) -> list[NewMemory] | None:
        """The facts the persona's engine finds, or None (the offline extractor then runs)."""
        if self._engines is None:
            return None
        found = await extract_with_engine(await self._engines(model), model.name, text)
        if found is None:
            log.warning("the engine's memory extraction was unusable; the offline one ran")
        return found

    async def process(self, job: Job) -> None:
        if not await self._store.claim_job(job.id):
            return
        try:
            data = json.loads(job.payload)
            persona, person = data["persona"], data["person_id"]
            record = await self._store.get_persona(persona)
            texts = await self._memory.store.message_texts([job.message_id, data["reply_id"]])
            said = []
            said_at = None
            if job.message_id in texts:
                content, said_at = texts[job.message_id]
                said.append((job.message_id, "Person", content))
            if data["reply_id"] in texts:
                content, at = texts[data["reply_id"]]
                said.append((data["reply_id"], record.persona.name, content))
                said_at = said_at or at
            if said and said_at is not None:
                facts = None
                if record.persona.memory.extractor == "engine" and job.message_id in texts:
                    facts = await self._engine_facts(record.persona.model, texts[job.message_id][0])
                await self._memory.remember(persona, person, said_at, said, facts=facts)
                if self._engines is not None and self._summary_every:
                    model = record.persona.model
                    await summarize_if_due(
                        self._memory, await self._engines(model), model.name, persona, person,
                        self._summary_every, said_at,
                    )  # fmt: skip
        except Exception as exc:
            await self._store.settle_job(job.id, f"{type(exc).__name__}: {exc}")
            raise
        await self._store.settle_job(job.id, None)
