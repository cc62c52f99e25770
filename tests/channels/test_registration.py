"""Built-in channels register through entry points and the register_channels hook, exactly the
way a third-party channel (Discord, Slack) does."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points
from types import SimpleNamespace
from typing import Any

import pluggy
from pydantic import BaseModel

from personae.channels import whatsapp
from personae.contracts import Channel, ChannelAbilities, ChannelSpec, WebhookRequest, WebhookResult
from personae.plugins import Hooks, RegisterChannel, channel_specs, hookimpl
from personae.settings import Settings

BUILT_IN = {"whatsapp", "messenger", "instagram", "telegram"}


def test_builtin_channels_register_through_entry_points() -> None:
    declared = {ep.name for ep in entry_points(group="personae")}
    assert declared >= BUILT_IN
    specs = channel_specs()
    assert set(specs) >= BUILT_IN
    assert {n: specs[n].abilities.max_text_len for n in BUILT_IN} == {
        "whatsapp": 4096,
        "messenger": 1999,
        "instagram": 1000,
        "telegram": 4096,
    }


class DiscordConnection(BaseModel):
    persona: str
    channel_id: str

    @property
    def key(self) -> str:
        return self.channel_id


class DiscordWebhook:
    def __init__(self, connections: Sequence[Any], settings: Settings) -> None:
        self.connections = connections

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        return WebhookResult(204, "")


def _discord_plugin() -> SimpleNamespace:
    spec = ChannelSpec(
        name="discord",
        connection_model=DiscordConnection,
        abilities=ChannelAbilities(name="discord", max_text_len=2000, window_hours=None),
        handler=DiscordWebhook,
        channel=lambda connection, settings, http: None,  # type: ignore[arg-type,return-value]
    )

    @hookimpl
    def register_channels(register: RegisterChannel) -> None:
        register(spec)

    return SimpleNamespace(register_channels=register_channels)


def test_a_third_party_channel_registers_like_the_builtins() -> None:
    manager = pluggy.PluginManager("personae")
    manager.add_hookspecs(Hooks)
    manager.register(whatsapp, name="whatsapp")
    manager.register(_discord_plugin(), name="discord")
    found: dict[str, ChannelSpec] = {}
    manager.hook.register_channels(register=lambda spec: found.setdefault(spec.name, spec))
    assert set(found) == {"whatsapp", "discord"}
    assert found["discord"].abilities.max_text_len == 2000


async def test_built_in_senders_satisfy_the_channel_protocol() -> None:
    import httpx

    from .harness import HARNESSES

    async with httpx.AsyncClient() as http:
        for harness in HARNESSES:
            channel = harness.spec.channel(harness.connection, Settings(), http)
            assert isinstance(channel, Channel)
            assert channel.abilities is harness.spec.abilities
