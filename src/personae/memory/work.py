"""Memory's after-turn work: a ``memory`` job per answered message, run by the same work
queue as turns (so it is durable, resumed after a restart, and ordered within the
conversation: it runs before the conversation's next turn), never on the reply path."""

from __future__ import annotations

import json
import logging

from personae.contracts import WorkQueue
from personae.memory.service import MemoryService
from personae.stores.sql import SqlStore
from personae.types import Job, StoredMessage, TurnContext

MEMORY = "memory"
log = logging.getLogger(__name__)


class MemoryWork:
    def __init__(
        self, store: SqlStore, memory: MemoryService, work: WorkQueue, *, run_here: bool = True
    ) -> None:
        self._store = store
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
                await self._memory.remember(persona, person, said_at, said)
        except Exception as exc:
            await self._store.settle_job(job.id, f"{type(exc).__name__}: {exc}")
            raise
        await self._store.settle_job(job.id, None)
