"""The built-in guards, registered through the ``register_guards`` hook (entry point
``guards`` in the ``personae`` group), exactly as a third-party guard plugin would."""

from __future__ import annotations

import httpx

from personae.contracts import Guard
from personae.errors import ConfigError
from personae.guards.crisis import load_resources
from personae.guards.embedded import EmbeddedGuard
from personae.guards.remote import LlamaGuard, OpenAIModeration
from personae.plugins import RegisterGuard, hookimpl
from personae.settings import Settings


async def default_guard(settings: Settings) -> Guard:
    return EmbeddedGuard(load_resources(settings.crisis_resources_file))


async def llamaguard(settings: Settings) -> Guard:
    if not settings.guard_llamaguard_url:
        raise ConfigError(
            "guard llamaguard needs PERSONAE_GUARD_LLAMAGUARD_URL: the base URL of an "
            "OpenAI-compatible server running Llama Guard, e.g. http://127.0.0.1:8001/v1"
        )
    headers = {}
    if settings.guard_llamaguard_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.guard_llamaguard_api_key.get_secret_value()}"
    client = httpx.AsyncClient(base_url=settings.guard_llamaguard_url.rstrip("/"), headers=headers)
    return LlamaGuard(client, settings.guard_llamaguard_model, settings.guard_timeout_s)


async def openai_moderation(settings: Settings) -> Guard:
    key = settings.guard_openai_api_key
    if key is None:
        raise ConfigError(
            "guard openai-moderation needs PERSONAE_GUARD_OPENAI_API_KEY (an OpenAI API key)"
        )
    client = httpx.AsyncClient(
        base_url=settings.guard_openai_url.rstrip("/"),
        headers={"Authorization": f"Bearer {key.get_secret_value()}"},
    )
    return OpenAIModeration(client, settings.guard_openai_model, settings.guard_timeout_s)


@hookimpl
def register_guards(register: RegisterGuard) -> None:
    register("default", default_guard)
    register("llamaguard", llamaguard)
    register("openai-moderation", openai_moderation)
