"""The runtime's connection registry over a real store: what webhook routes will ask it."""

from __future__ import annotations

from pathlib import Path

from personae.runtime import Runtime
from personae.settings import Settings

from .platform import BOT_TOKEN


async def test_find_all_of_kind_and_revision(tmp_path: Path) -> None:
    channels = tmp_path / "channels.yaml"
    channels.write_text(
        "telegram:\n  - {persona: spanish-tutor, name: file-bot, bot_token: x1, mode: polling}\n"
    )
    settings = Settings(home=tmp_path / "home", engine="scripted", channels=channels)
    runtime = await Runtime.start(settings, warm=False)
    try:
        registry = runtime.connections
        first = registry.revision
        assert registry.find("telegram", "file-bot") is not None
        assert registry.find("telegram", "nobody") is None
        assert registry.find("whatsapp", "file-bot") is None
        entry = await registry.add(
            "telegram",
            {
                "persona": "travel-planner",
                "name": "api-bot",
                "bot_token": BOT_TOKEN,
                "mode": "polling",
            },
        )
        assert registry.revision == first + 1
        found = registry.find("telegram", "api-bot")
        assert found is entry.connection and found.bot_token.get_secret_value() == BOT_TOKEN
        assert [c.name for c in registry.of_kind("telegram")] == ["api-bot", "file-bot"]
        assert [(e.key, e.source) for e in registry.all()] == [
            ("api-bot", "stored"),
            ("file-bot", "file"),
        ]
        await registry.remove("telegram", "api-bot")
        assert registry.find("telegram", "api-bot") is None and registry.revision == first + 2
    finally:
        await runtime.aclose()
