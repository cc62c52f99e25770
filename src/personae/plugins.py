"""Plugin hooks (pluggy). Built-in engines register through these exactly as third parties do:
an entry point in the ``personae`` group naming a module with ``@hookimpl`` functions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points

import pluggy

from personae.contracts import (
    ChannelSpec,
    ContextSourceFactory,
    EngineFactory,
    GuardFactory,
    ImageGeneratorFactory,
    SpeechToTextFactory,
    TextToSpeechFactory,
)

hookspec = pluggy.HookspecMarker("personae")
hookimpl = pluggy.HookimplMarker("personae")

RegisterEngine = Callable[[str, EngineFactory], None]
RegisterChannel = Callable[[ChannelSpec], None]
RegisterContextSource = Callable[[str, ContextSourceFactory], None]
RegisterGuard = Callable[[str, GuardFactory], None]
RegisterImageGenerator = Callable[[str, ImageGeneratorFactory], None]
RegisterSpeechToText = Callable[[str, SpeechToTextFactory], None]
RegisterTextToSpeech = Callable[[str, TextToSpeechFactory], None]

log = logging.getLogger(__name__)


class Hooks:
    @hookspec
    def register_engines(self, register: RegisterEngine) -> None:
        """Register engine factories by name: ``register("name", factory)``."""

    @hookspec
    def register_channels(self, register: RegisterChannel) -> None:
        """Register messaging channels: ``register(ChannelSpec(name=..., ...))``."""

    @hookspec
    def register_context_sources(self, register: RegisterContextSource) -> None:
        """Register context sources (lore, memory, knowledge) by name:
        ``register("name", factory)``, ``factory(settings, store) -> ContextSource``."""

    def register_guards(self, register: RegisterGuard) -> None:
        """Register safety guard factories by name: ``register("name", factory)``."""

    @hookspec
    def register_image_generators(self, register: RegisterImageGenerator) -> None:
        """Register image generator factories by name: ``register("name", factory)``."""

    def register_speech_to_text(self, register: RegisterSpeechToText) -> None:
        """Register speech-to-text adapters by name: ``register("name", factory)``,
        ``factory(settings) -> SpeechToText``; the model loads on first use."""

    @hookspec
    def register_text_to_speech(self, register: RegisterTextToSpeech) -> None:
        """Register text-to-speech adapters by name: ``register("name", factory)``,
        ``factory(settings) -> TextToSpeech``; the voice loads on first use."""


@cache
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("personae")
    pm.add_hookspecs(Hooks)
    for entry_point in entry_points(group="personae"):
        # One broken plugin must not take the others down; it is reported by name instead.
        try:
            pm.register(entry_point.load(), name=entry_point.name)
        except Exception as exc:
            broken_plugins()[entry_point.name] = f"{type(exc).__name__}: {exc}"
            log.warning("plugin %r failed to load: %s", entry_point.name, exc)
    return pm


@cache
def broken_plugins() -> dict[str, str]:
    """Entry points that failed to import, with the reason."""
    return {}


def engine_factories() -> dict[str, EngineFactory]:
    """Every registered engine factory, by name."""
    found: dict[str, EngineFactory] = {}

    def register(name: str, factory: EngineFactory) -> None:
        found[name] = factory

    plugin_manager().hook.register_engines(register=register)
    return found


def channel_specs() -> dict[str, ChannelSpec]:
    """Every registered channel, by name."""
    found: dict[str, ChannelSpec] = {}

    def register(spec: ChannelSpec) -> None:
        found[spec.name] = spec

    plugin_manager().hook.register_channels(register=register)
    return found


def context_source_factories() -> dict[str, ContextSourceFactory]:
    """Every registered context source factory, by name, in registration order."""
    found: dict[str, ContextSourceFactory] = {}

    def register(name: str, factory: ContextSourceFactory) -> None:
        found[name] = factory

    plugin_manager().hook.register_context_sources(register=register)
    return found


def guard_factories() -> dict[str, GuardFactory]:
    """Every registered guard factory, by name."""
    found: dict[str, GuardFactory] = {}

    def register(name: str, factory: GuardFactory) -> None:
        found[name] = factory

    plugin_manager().hook.register_guards(register=register)
    return found


def image_generator_factories() -> dict[str, ImageGeneratorFactory]:
    """Every registered image generator factory, by name."""
    found: dict[str, ImageGeneratorFactory] = {}

    def register(name: str, factory: ImageGeneratorFactory) -> None:
        found[name] = factory

    plugin_manager().hook.register_image_generators(register=register)
    return found


def speech_to_text_factories() -> dict[str, SpeechToTextFactory]:
    """Every registered speech-to-text adapter factory, by name."""
    found: dict[str, SpeechToTextFactory] = {}

    def register(name: str, factory: SpeechToTextFactory) -> None:
        found[name] = factory

    plugin_manager().hook.register_speech_to_text(register=register)
    return found


def text_to_speech_factories() -> dict[str, TextToSpeechFactory]:
    """Every registered text-to-speech adapter factory, by name."""
    found: dict[str, TextToSpeechFactory] = {}

    def register(name: str, factory: TextToSpeechFactory) -> None:
        found[name] = factory

    plugin_manager().hook.register_text_to_speech(register=register)
    return found
