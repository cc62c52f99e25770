"""Built-in context sources, registered through the same hook a plugin uses (an entry point in
the ``personae`` group): a memory or knowledge plugin adds itself the same way."""

from __future__ import annotations

from typing import Any

from personae.contracts import ContextSource
from personae.core.lore_source import LoreSource
from personae.embed.shared import process_embedder
from personae.knowledge.service import KnowledgeService
from personae.knowledge.source import KnowledgeSource
from personae.plugins import RegisterContextSource, hookimpl
from personae.settings import Settings


def lore_source(settings: Settings, store: Any) -> ContextSource:
    return LoreSource(store)


def knowledge_source(settings: Settings, store: Any) -> ContextSource:
    from personae.stores.knowledge import KnowledgeStore

    service = KnowledgeService(
        KnowledgeStore(store.runner),
        process_embedder(),
        top_k=settings.knowledge_top_k,
        budget_tokens=settings.knowledge_budget_tokens,
    )
    return KnowledgeSource(service, enabled=settings.knowledge)


@hookimpl
def register_context_sources(register: RegisterContextSource) -> None:
    register("lore", lore_source)
    register("knowledge", knowledge_source)
