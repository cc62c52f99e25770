"""Plugin hooks (pluggy). Built-in engines register through these exactly as third parties do:
an entry point in the ``personae`` group naming a module with ``@hookimpl`` functions."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pluggy

from personae.contracts import EngineFactory

hookspec = pluggy.HookspecMarker("personae")
hookimpl = pluggy.HookimplMarker("personae")

RegisterEngine = Callable[[str, EngineFactory], None]


class Hooks:
    @hookspec
    def register_engines(self, register: RegisterEngine) -> None:
        """Register engine factories by name: ``register("name", factory)``."""


@cache
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("personae")
    pm.add_hookspecs(Hooks)
    pm.load_setuptools_entrypoints("personae")
    return pm


def engine_factories() -> dict[str, EngineFactory]:
    """Every registered engine factory, by name."""
    found: dict[str, EngineFactory] = {}

    def register(name: str, factory: EngineFactory) -> None:
        found[name] = factory

    plugin_manager().hook.register_engines(register=register)
    return found
