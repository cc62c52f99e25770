"""Built-in engines register through the plugin hook, as a third-party plugin would."""

from __future__ import annotations

from personae.contracts import Engine
from personae.plugins import engine_factories
from personae.settings import Settings


def test_all_three_engines_are_registered_through_entry_points() -> None:
    assert {"llamacpp", "openai", "scripted"} <= set(engine_factories())


async def test_factories_build_engines_that_satisfy_the_protocol(llama: Engine) -> None:
    factories = engine_factories()
    settings = Settings(openai_base_url="http://127.0.0.1:9/v1")
    for name in ("openai", "scripted"):
        engine = await factories[name](settings, None)
        try:
            assert isinstance(engine, Engine)
            assert engine.info.name == name
        finally:
            await engine.aclose()
    assert isinstance(llama, Engine) and llama.info.name == "llamacpp"
