"""Rolling summaries of long conversations, written by the persona's engine as part of the
after-turn ``memory`` job (off the reply path, on the same work queue as turns).

Once ``every`` episodes have been kept since the last summary, the engine reads the previous
summary and those messages and writes the next one; it fills the ``summary`` slot, so it
retires the previous summary (kept as history, no longer recalled). Episodes stay
recallable: the summary adds the gist of what scrolled out of the prompt's history, it does
not replace the messages.
"""

from __future__ import annotations

import logging
from datetime import datetime

from personae.contracts import Engine
from personae.errors import EngineError, EngineUnavailable
from personae.memory.service import MemoryService
from personae.types import ChatMessage, GenerationRequest
from personae.types.memory import NewMemory

log = logging.getLogger(__name__)
SLOT = "summary"
MAX_SUMMARY_TOKENS = 200
MAX_LINE_CHARS = 600
INSTRUCTIONS = (
    "You keep a persona's long-term memory of one person. Update the summary of your "
    "conversation with them: keep what still matters from the previous summary, add what the "
    "new messages say (events, plans, feelings, what was agreed), in at most 120 words, in "
    "the third person about them. Answer with the summary only."
)


async def summarize_if_due(
    memory: MemoryService,
    engine: Engine,
    model: str | None,
    persona: str,
    person_id: str,
    every: int,
    now: datetime,
) -> int | None:
    """Write the next rolling summary when ``every`` episodes have gathered since the last
    one; returns its id, or None (not due, or the engine failed: the next job tries again)."""
    if every <= 0:
        return None
    previous, episodes = await memory.store.unsummarized(person_id, persona, every)
    if len(episodes) < every:
        return None
    lines = [e.text[:MAX_LINE_CHARS] for e in episodes]
    before = previous.text if previous else "(none yet)"
    prompt = f"Previous summary: {before}\n\nNew messages:\n" + "\n".join(lines)
    request = GenerationRequest(
        messages=(ChatMessage("system", INSTRUCTIONS), ChatMessage("user", prompt)),
        max_tokens=MAX_SUMMARY_TOKENS, temperature=0.2, top_p=1.0, model=model,
    )  # fmt: skip
    try:
        text = "".join([chunk.text async for chunk in engine.generate(request)]).strip()
    except (EngineError, EngineUnavailable) as exc:
        log.warning("rolling summary skipped: the engine failed: %s", exc)
        return None
    if not text:
        return None
    item = NewMemory("summary", " ".join(text.split()), SLOT, 0.6)
    vector = (await memory.embed([item.text]))[0].tobytes()
    [ids] = await memory.store.add_groups(persona, person_id, now, [(None, [(item, vector)])])
    return ids[0] if ids else None
