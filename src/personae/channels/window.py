"""The customer-service window: free-form messages only within hours of the person's last one.

WhatsApp, Messenger and Instagram allow 24 hours (outside it: WhatsApp templates, Messenger
message tags); Telegram bots have no window (``window_hours`` None).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from personae.contracts import ChannelAbilities
from personae.types import SendResult


def within_window(last_inbound: datetime | None, now: datetime, hours: float = 24.0) -> bool:
    """May a free-form message be sent now? Only within ``hours`` of the person's last message.

    Only the person's messages open or renew the window; the business's own sends do not.
    """
    if last_inbound is None:
        return False
    return timedelta(0) <= now - last_inbound < timedelta(hours=hours)


def window_refusal(
    abilities: ChannelAbilities, last_inbound: datetime | None, now: datetime
) -> SendResult | None:
    """A permanent result to record instead of sending, when the window is closed; else None."""
    hours = abilities.window_hours
    if hours is None or within_window(last_inbound, now, hours):
        return None
    since = "never wrote" if last_inbound is None else f"last wrote at {last_inbound.isoformat()}"
    return SendResult(
        "permanent",
        code="outside_window",
        error=f"{abilities.name} allows free-form replies only within {hours:g} hours of the "
        f"person's last message; the person {since}. Wait for them to write again, or send "
        "an approved template (WhatsApp) or a message tag (Messenger).",
    )
