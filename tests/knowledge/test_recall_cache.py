"""A persona's knowledge base as recalls see it while documents come and go: what a recall
holds in this process (vectors, chunks it has read) follows the store's version, so an
added document is found at once and a deleted one is never shown again."""

from __future__ import annotations

from pathlib import Path

from personae.embed.shared import process_embedder
from personae.knowledge.service import KnowledgeService
from personae.stores.knowledge import KnowledgeStore
from personae.stores.sql import SqlStore
from personae.types import Persona

GUIDE = b"# Museum\n\n## Tickets\n\nA ticket to the lighthouse costs seven euros.\n"
FERRY = b"# Ferry\n\n## Times\n\nThe ferry to the lighthouse island leaves at ten.\n"
BOAT = b"# Boat\n\n## Times\n\nThe boat to the lighthouse island leaves at noon.\n"


async def test_recalls_follow_documents_added_and_deleted(tmp_path: Path) -> None:
    store = await SqlStore.open(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    try:
        await store.put_persona(Persona.model_validate({"id": "kb", "name": "K", "greeting": "hi"}))
        service = KnowledgeService(KnowledgeStore(store.runner), process_embedder())
        assert (await service.recall("kb", "lighthouse ticket")).chosen == ()
        guide = await service.add("kb", "guide.md", GUIDE)
        for _ in range(2):  # the second from what the first left cached
            first = await service.recall("kb", "How much is a lighthouse ticket?")
            assert [c.document for c in first.chosen] == ["guide.md"]
        ferry = await service.add("kb", "ferry.md", FERRY)
        both = await service.recall("kb", "When does the ferry to the lighthouse leave?")
        assert both.chosen[0].document == "ferry.md"
        # The newest document replaced by one as long: on SQLite its chunks get the same ids.
        assert await service.store.delete_document("kb", ferry.id)
        await service.add("kb", "boat.md", BOAT)
        boat = await service.recall("kb", "When does the boat to the lighthouse leave?")
        assert boat.chosen[0].document == "boat.md" and "noon" in boat.chosen[0].text
        assert all("ferry.md" not in n.item for n in boat.notes)
        assert await service.store.delete_document("kb", guide.id)
        for _ in range(2):
            left = await service.recall("kb", "How much is a lighthouse ticket?")
            assert {c.document for c in left.chosen} == {"boat.md"}
            assert all("guide.md" not in n.item for n in left.notes)
    finally:
        await store.aclose()
