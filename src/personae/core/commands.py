"""Chat commands: a message like ``/memory`` is answered by its handler, not the model.

A small registry, so other features add their own (``/export``, ``/delete-my-data``) without
touching the turn. The turn asks ``match`` before generating; a message that is not a
registered command goes to the model as usual (an unknown ``/word`` too: people type slashes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandCall:
    """Who sent the command, to which persona, and what followed its name."""

    persona: str
    person_id: str
    conversation_id: str
    message_id: int
    name: str
    args: str


Handler = Callable[[CommandCall], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    handler: Handler


class CommandRegistry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def register(self, name: str, usage: str, handler: Handler) -> None:
        key = name.lower().lstrip("/")
        if key in self._commands:
            raise ValueError(f"chat command /{key} is registered twice")
        self._commands[key] = Command(key, usage, handler)

    def match(self, text: str) -> tuple[Command, str] | None:
        """The command a message invokes and its argument text, or None."""
        stripped = text.strip()
        if not stripped.startswith("/"):
            return None
        name, _, args = stripped[1:].partition(" ")
        command = self._commands.get(name.lower())
        return (command, args.strip()) if command else None

    def usages(self) -> list[str]:
        return [c.usage for c in self._commands.values()]
