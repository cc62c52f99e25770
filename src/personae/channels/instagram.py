"""Instagram messaging: Messenger's webhook and Send API shapes with Instagram's data.

Sends go to ``{graph base}/{version}/{account_id}/messages``; for the Instagram-Login flavour
point PERSONAE_GRAPH_API_BASE at https://graph.instagram.com.
"""

from __future__ import annotations

from typing import Any

import httpx

from personae.channels.config import InstagramConnection
from personae.channels.messenger import (
    MEDIA_TYPES,
    Flavour,
    MetaMessagingChannel,
    MetaMessagingWebhook,
)
from personae.contracts import AccountCheck, ChannelAbilities, ChannelSpec
from personae.plugins import RegisterChannel, hookimpl
from personae.settings import Settings

INSTAGRAM = Flavour(
    name="instagram",
    webhook_object="instagram",
    # The Send API's figures apply per professional account (as Messenger's per page).
    abilities=ChannelAbilities(
        name="instagram",
        max_text_len=1000,
        media_types=MEDIA_TYPES,
        sends_per_s=300.0,
        chat_sends_per_s=1.0,
        chat_burst=3,
        sends_voice=True,  # an audio attachment (AAC in MP4), uploaded with the send
        sends_video=True,  # a video attachment (H.264/AAC MP4), uploaded with the send
    ),
    token=lambda c: c.access_token.get_secret_value(),
    check_node="account",
    check_fields="id,username",
)


class InstagramWebhook(MetaMessagingWebhook):
    flavour = INSTAGRAM


class InstagramChannel(MetaMessagingChannel):
    flavour = INSTAGRAM


async def check(connection: Any, settings: Settings, http: httpx.AsyncClient) -> AccountCheck:
    return await InstagramChannel(connection, settings, http).check()


SPEC = ChannelSpec(
    name=INSTAGRAM.name,
    connection_model=InstagramConnection,
    abilities=INSTAGRAM.abilities,
    handler=InstagramWebhook,
    channel=InstagramChannel,
    check=check,
)


@hookimpl
def register_channels(register: RegisterChannel) -> None:
    register(SPEC)
