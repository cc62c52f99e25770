"""The outbox plan: a reply cut into parts at its channel's limit, one outbox row per part.

Cutting before anything is stored is what makes delivery exactly-once per part: each part has
its own row, marked sent on its own, so a retry after part 1 went out resends only part 2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from personae.channels.formatting import split_text
from personae.contracts import ChannelSpec
from personae.core.turn_spec import OutboxPlanner
from personae.types import OutboxItem, ReplyRoute, StoredMedia, VideoPlan, VoiceSettings

# A channel no plugin registers any more still gets its reply, cut at a safe size.
FALLBACK_LIMIT = 1000


def split_planner(specs: Mapping[str, ChannelSpec]) -> OutboxPlanner:
    """A planner cutting each reply at ``specs[route.channel].abilities.max_text_len``."""

    def plan(
        route: ReplyRoute,
        text: str,
        speak: VoiceSettings | None = None,
        video: VideoPlan | None = None,
    ) -> tuple[OutboxItem, ...]:
        spec = specs.get(route.channel)
        if video is not None and spec is not None and spec.abilities.sends_video:
            # One video for the whole reply; its text is said in it, and is the fallback.
            data = {
                "connection": route.connection, "chat_id": route.chat_id, "text": text,
                "part": 1, "parts": 1, "video": video.payload(),
            }  # fmt: skip
            return (OutboxItem(route.channel, json.dumps(data, ensure_ascii=False)),)
        if speak is not None and spec is not None and spec.abilities.sends_voice:
            # One voice note for the whole reply; its text rides along for the record and as
            # the fallback when speech cannot be made.
            data = {
                "connection": route.connection, "chat_id": route.chat_id, "text": text,
                "part": 1, "parts": 1, "speak": speak.model_dump(),
            }  # fmt: skip
            return (OutboxItem(route.channel, json.dumps(data, ensure_ascii=False)),)
        limit = spec.abilities.max_text_len if spec is not None else FALLBACK_LIMIT
        parts = split_text(text, limit) or [text]
        return tuple(
            OutboxItem(route.channel, _payload(route, part, number, len(parts)))
            for number, part in enumerate(parts, start=1)
        )

    return plan


def picture_items(route: ReplyRoute, pictures: Sequence[StoredMedia]) -> tuple[OutboxItem, ...]:
    """One outbox row per picture, after the reply's text rows."""
    return tuple(
        OutboxItem(
            route.channel,
            json.dumps({
                "connection": route.connection, "chat_id": route.chat_id, "text": "",
                "image": {"sha256": p.sha256, "mime_type": p.mime_type}, "part": 1, "parts": 1,
            }),
        )
        for p in pictures
    )  # fmt: skip


def _payload(route: ReplyRoute, text: str, part: int, parts: int) -> str:
    data = {
        "connection": route.connection, "chat_id": route.chat_id,
        "text": text, "part": part, "parts": parts,
    }  # fmt: skip
    return json.dumps(data, ensure_ascii=False)
