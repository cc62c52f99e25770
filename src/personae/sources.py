"""Built-in context sources, registered through the same hook a plugin uses (an entry point in
the ``personae`` group): a memory or knowledge plugin adds itself the same way."""

from __future__ import annotations

from typing import Any

from personae.contracts import ContextSource
from personae.core.lore_source import LoreSource
from personae.plugins import RegisterContextSource, hookimpl
from personae.settings import Settings


def lore_source(settings: Settings, store: Any) -> ContextSource:
    return LoreSource(store)


@hookimpl
def register_context_sources(register: RegisterContextSource) -> None:
    register("lore", lore_source)
