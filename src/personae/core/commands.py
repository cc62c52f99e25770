"""Chat commands: a message like `/export` is answered by its handler, not by the model.

A command is a registered name and an async handler that returns the reply text. The turn
looks at every stored message before generating (core/turn.py): a known command runs instead
of the model, on every channel alike, and its reply is stored and delivered like any reply.
Unknown `/words` are ordinary messages (a person may well start one with a slash).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from personae.types import ReplyRoute

MAX_NAME = 32


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who sent the command, where, and what followed its name (``args``, stripped)."""

    person_id: str
    conversation_id: str
    channel: str  # the person's stored channel: "web", "openai:alpha", "whatsapp:1065..."
    persona: str
    args: str
    route: ReplyRoute | None = None
    message_id: int = 0  # the command's own stored message


Handler = Callable[[CommandContext], Awaitable[str]]


class PersonForgotten(Exception):
    """Raised by a handler that deleted the person: ``reply`` is said once and stored nowhere
    (storing it would bring back a row about them)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        super().__init__(reply)


class Commands:
    """The registry: name -> handler."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, name: str, handler: Handler) -> None:
        key = name.lower().lstrip("/")
        if key in self._handlers:
            raise ValueError(f"chat command /{key} is registered twice")
        self._handlers[key] = handler

    def names(self) -> list[str]:
        return sorted(self._handlers)

    def parse(self, text: str) -> tuple[str, str] | None:
        """(name, args) when ``text`` is a registered command, else None. Telegram's
        `/export@SomeBot` form counts as `/export`."""
        stripped = text.strip()
        if not stripped.startswith("/"):
            return None
        head, _, args = stripped[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        if len(name) > MAX_NAME or name not in self._handlers:
            return None
        return name, args.strip()

    async def run(self, name: str, context: CommandContext) -> str:
        """The reply text; raises PersonForgotten when the handler deleted the person."""
        return await self._handlers[name](context)
