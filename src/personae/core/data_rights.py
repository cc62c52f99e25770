"""The data-rights chat commands: /export and /delete-my-data (with a confirmation step).

What each surface gets for /export (honest about the channels, which send text only):
- web chat: a link to /web/export, which downloads the JSON file (the cookie says who);
- everywhere else: a one-off download link /export/<token> valid for a few minutes, absolute
  when PERSONAE_PUBLIC_URL is set; a messaging channel without it gets a summary instead and
  the person id an operator can export for them (GET /api/people/{id}/export).
/delete-my-data asks for `/delete-my-data confirm` within a few minutes; the confirmation
deletes every row about the person (stores/people.py) and is answered once, stored nowhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from personae.core.commands import CommandContext, Commands, PersonForgotten

EXPORT = "export"
DELETE = "delete-my-data"
CONFIRM = "confirm"


class PersonData(Protocol):
    async def export_person(self, person_id: str) -> dict[str, Any]: ...
    async def delete_person(self, person_id: str) -> int: ...
    async def request_deletion(self, person_id: str, valid_s: float) -> datetime: ...
    async def deletion_pending(self, person_id: str) -> bool: ...
    async def request_export(self, person_id: str, valid_s: float) -> str: ...


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _is_messaging(channel: str) -> bool:
    """People of a messaging connection live on "<kind>:<key>"; API people on "api:<client>"
    or "openai:<client>"; the web chat's on "web"."""
    kind = channel.partition(":")[0]
    return channel != "web" and kind not in ("api", "openai")


class DataRights:
    def __init__(
        self, store: PersonData, public_url: str, link_ttl_s: float, confirm_s: float
    ) -> None:
        self._store = store
        self._public_url = public_url.rstrip("/")
        self._link_ttl_s = link_ttl_s
        self._confirm_s = confirm_s

    def register(self, commands: Commands) -> None:
        commands.register(EXPORT, self.export)
        commands.register(DELETE, self.delete)

    async def export(self, context: CommandContext) -> str:
        if context.channel == "web":
            return (
                "Your data is ready: open /web/export to download everything stored about you "
                "as a JSON file."
            )
        if _is_messaging(context.channel) and not self._public_url:
            return await self._summary(context.person_id)
        token = await self._store.request_export(context.person_id, self._link_ttl_s)
        link = f"{self._public_url}/export/{token}"
        return (
            f"Your data is ready as a JSON file: {link} (works for "
            f"{_minutes(self._link_ttl_s)}; anyone with the link can open it, so keep it to "
            "yourself)."
        )

    async def _summary(self, person_id: str) -> str:
        data = await self._store.export_person(person_id)
        tables = data["tables"]
        return (
            f"Stored about you: {len(tables['conversations'])} conversation(s), "
            f"{len(tables['messages'])} message(s), {len(tables['attachments'])} attachment(s). "
            "This channel cannot send files; to get the full JSON file, ask the operator of this "
            f"service to export person {person_id}. Send /delete-my-data to delete it all."
        )

    async def delete(self, context: CommandContext) -> str:
        if context.args.lower() == CONFIRM:
            if not await self._store.deletion_pending(context.person_id):
                return (
                    "No deletion is waiting for confirmation (or it expired): send "
                    "/delete-my-data first."
                )
            await self._store.delete_person(context.person_id)
            raise PersonForgotten(
                "Done: everything stored about you here has been deleted, this conversation "
                "included. If you write again, a new conversation starts."
            )
        await self._store.request_deletion(context.person_id, self._confirm_s)
        return (
            "This deletes everything stored about you here: your messages, the replies, "
            "attachments and settings, for good. To go ahead, send "
            f"`/delete-my-data confirm` within {_minutes(self._confirm_s)}. "
            "Nothing is deleted otherwise."
        )
