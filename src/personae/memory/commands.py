"""The memory chat commands, answered without the model on every channel:

/memory              what the persona remembers about you, numbered
/memory off | on     stop or resume remembering (and recalling)
/memory share on|off let your other personas recall what you told this one
/forget N            delete fact N (and the message it came from)
/forget all          delete everything this persona remembers about you
/correct N <text>    replace fact N with your wording
"""

from __future__ import annotations

from personae.core.commands import CommandContext, Commands
from personae.memory.service import MemoryService

HELP = (
    "Memory commands: /memory (list), /memory off|on, /memory share on|off, /forget N, "
    "/forget all, /correct N <new text>."
)


class MemoryCommands:
    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory
        self._store = memory.store

    def register(self, registry: Commands) -> None:
        registry.register("memory", self.memory)
        registry.register("forget", self.forget)
        registry.register("correct", self.correct)

    async def memory(self, call: CommandContext) -> str:
        args = call.args.lower().split()
        if args in (["off"], ["on"]):
            enabled = args == ["on"]
            await self._store.set_enabled(call.person_id, call.persona, enabled)
            if enabled:
                return "Memory is on: I'll remember what you tell me again."
            return (
                "Memory is off: I won't remember anything new or use what I remember until you "
                "send /memory on. To delete what I already remember, send /forget all."
            )
        if len(args) == 2 and args[0] == "share" and args[1] in ("on", "off"):
            await self._store.set_share(call.person_id, call.persona, args[1] == "on")
            if args[1] == "on":
                return "Sharing is on: I may also recall facts you told your other personas."
            return "Sharing is off: I only recall what you told me."
        if args:
            return f"I don't know `/memory {call.args}`. {HELP}"
        facts = await self._store.facts(call.person_id, call.persona)
        choices = await self._store.choices(call.person_id, call.persona)
        state = "" if choices.enabled else " (memory is off: send /memory on to resume)"
        if not facts:
            return f"I don't remember any facts about you yet{state}."
        lines = [f"{n}. {m.text}" for n, m in enumerate(facts, 1)]
        return (
            f"What I remember about you{state}:\n" + "\n".join(lines) + "\n\n"
            "/forget N deletes one, /correct N <text> fixes one, /forget all deletes everything."
        )

    async def forget(self, call: CommandContext) -> str:
        arg = call.args.strip().lower()
        if arg == "all":
            count = await self._store.forget_all(call.person_id, call.persona)
            return f"Done: I forgot everything I remembered about you ({count} items deleted)."
        facts = await self._store.facts(call.person_id, call.persona)
        number = _number(arg)
        if number is None or not 1 <= number <= len(facts):
            return _unknown(arg, len(facts), "/forget N")
        fact = facts[number - 1]
        await self._store.forget(call.person_id, call.persona, fact.id)
        return f"Forgotten: “{fact.text}”. It is deleted, along with the message it came from."

    async def correct(self, call: CommandContext) -> str:
        arg, _, text = call.args.partition(" ")
        facts = await self._store.facts(call.person_id, call.persona)
        number = _number(arg)
        if number is None or not 1 <= number <= len(facts):
            return _unknown(arg, len(facts), "/correct N <new text>")
        if not text.strip():
            return f"What should fact {number} say instead? Send /correct {number} <new text>."
        fact = facts[number - 1]
        await self._memory.correct(call.person_id, call.persona, fact.id, text.strip())
        return f"Corrected: “{fact.text}” is now “{text.strip()}”."


def _number(text: str) -> int | None:
    text = text.strip().lstrip("#")
    return int(text) if text.isdigit() else None


def _unknown(arg: str, count: int, usage: str) -> str:
    shown = f"“{arg}”" if arg else "nothing"
    if count == 0:
        return f"I don't remember any facts about you, so there is nothing to change ({shown})."
    return (
        f"There is no fact {shown}: I remember {count} "
        f"{'fact' if count == 1 else 'facts'}, numbered 1 to {count}. Send /memory to see "
        f"them, then {usage}. Nothing was changed."
    )
