"""openai: any OpenAI-compatible /v1/chat/completions server (vLLM, llama.cpp, Ollama, hosted).

Configuration, not classes: PERSONAE_OPENAI_BASE_URL, PERSONAE_OPENAI_API_KEY (sent as a Bearer
token), the model (the persona's model.name, else PERSONAE_OPENAI_MODEL) and
PERSONAE_OPENAI_CONTEXT_WINDOW. Replies stream as server-sent events. With
PERSONAE_OPENAI_ACCEPTS_IMAGES the person's images are sent as ``image_url`` parts (data URLs).

Errors: 429, 5xx, connection failures and timeouts are transient (EngineUnavailable, honouring
Retry-After); other 4xx are EngineError carrying the server's own message.

Token counts use the server's tokenizer when it has one (llama.cpp: /tokenize and
/apply-template; vLLM: /tokenize), at the server root (the base URL without /v1). Otherwise
they are estimated, conservatively, as ceil(UTF-8 bytes / 3) + 4 per message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from personae.contracts import Engine
from personae.engines._tokens import HttpTokenizer, TokenCounter
from personae.engines._wire import (
    StreamReader,
    chat_body,
    error_for_status,
    error_message,
)
from personae.errors import EngineError, EngineUnavailable
from personae.plugins import RegisterEngine, hookimpl
from personae.settings import Settings
from personae.types import ChatMessage, EngineInfo, GenerationChunk, GenerationRequest

NAME = "openai"
CONNECT_TIMEOUT_S = 10.0


def server_root(base_url: str) -> str:
    """The server root for non-OpenAI endpoints such as /tokenize: base URL without /v1."""
    return base_url.rstrip("/").removesuffix("/v1")


class OpenAICompatibleEngine:
    """Speaks OpenAI's chat-completions wire format to one server; build it with the factory."""

    def __init__(
        self,
        settings: Settings,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        context_window: int | None = None,
        parallel: int | None = None,
        template: str | None = None,
    ) -> None:
        """One server: the PERSONAE_OPENAI_* settings, or an endpoints file's entry (the
        keyword arguments, which take precedence)."""
        self.base_url = (base_url or settings.openai_base_url).rstrip("/")
        # Where the URL was configured, for error messages.
        self._where = (
            "its base_url in the endpoints file" if base_url else "PERSONAE_OPENAI_BASE_URL"
        )
        self.info = EngineInfo(
            name=NAME,
            model=model,
            context_window=context_window or settings.openai_context_window,
            parallel_slots=parallel or settings.parallel,
            # Forwarded as-is: a server without them answers 400, passed on as EngineError.
            supports_response_format=True,
            supports_logprobs=True,
            template=template or settings.openai_template,
            # Only the operator knows whether the served model is a vision model.
            accepts_images=settings.openai_accepts_images,
        )
        headers = {"Accept": "text/event-stream, application/json"}
        if api_key is None and base_url is None and settings.openai_api_key is not None:
            api_key = settings.openai_api_key.get_secret_value()
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(settings.engine_timeout_s, connect=CONNECT_TIMEOUT_S),
            # Enough pooled connections for every stream the endpoint may run at once.
            limits=httpx.Limits(max_connections=max(100, self.info.parallel_slots * 2)),
        )
        tokenizer = HttpTokenizer(
            self._client, server_root(self.base_url), model, NAME, template=self.info.template
        )
        self._counter = TokenCounter(tokenizer)

    @property
    def estimating_tokens(self) -> bool:
        """True once the server turned out to have no tokenizer (counts are estimates)."""
        return self._counter.estimating

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        return await self._counter.count(messages)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        body = chat_body(request, request.model or self.info.model, self.info.template)
        body.update(request_extras(request))
        url = f"{self.base_url}/chat/completions"
        reader = StreamReader(NAME, url)
        try:
            async with self._client.stream("POST", "chat/completions", json=body) as response:
                if response.status_code >= 400:
                    raise await _http_error(response, url)
                async for event in _sse_events(response):
                    if piece := reader.feed(event):
                        yield piece
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(
                f"engine {NAME} at {url}: no answer in time ({type(exc).__name__}); retry, or "
                "raise PERSONAE_ENGINE_TIMEOUT_S"
            ) from exc
        except httpx.HTTPError as exc:
            raise EngineUnavailable(
                f"engine {NAME} at {url}: connection failed ({type(exc).__name__}: {exc}); "
                f"check that the server is running and {self._where} is right"
            ) from exc
        prompt_tokens = 0 if reader.usage else sum(await self.count_tokens(request.messages))
        yield reader.final(prompt_tokens)

    async def healthy(self) -> bool:
        """Whether the server answers its model list (every OpenAI-compatible server has one);
        a 4xx still means it is up (a wrong key is a configuration error, not an outage)."""
        try:
            response = await self._client.get("models", timeout=CONNECT_TIMEOUT_S)
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    async def aclose(self) -> None:
        await self._client.aclose()


def request_extras(request: GenerationRequest) -> dict[str, Any]:
    """A request ending in an assistant message continues that message (a reply restarted on
    another endpoint): vLLM needs it said; llama.cpp prefills a final assistant turn itself."""
    if request.messages and request.messages[-1].role == "assistant":
        return {"continue_final_message": True, "add_generation_prompt": False}
    return {}


async def _http_error(response: httpx.Response, url: str) -> EngineError:
    raw = (await response.aread()).decode(errors="replace")
    try:
        payload: object = json.loads(raw)
    except ValueError:
        payload = raw
    retry_after = response.headers.get("retry-after")
    return error_for_status(NAME, url, response.status_code, error_message(payload), retry_after)


async def _sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """JSON objects from ``data:`` lines until ``[DONE]``; llama.cpp's ``error:`` lines too."""
    async for line in response.aiter_lines():
        field, _, value = line.partition(":")
        if field not in ("data", "error"):
            continue  # blank separators, ": keep-alive" comments, event:/id: fields
        value = value.strip()
        if value == "[DONE]":
            return
        try:
            event = json.loads(value)
        except ValueError:
            raise EngineUnavailable(
                f"engine {NAME}: the server sent a stream line that is not JSON: {value[:200]!r}"
            ) from None
        if isinstance(event, dict):
            yield event if field == "data" else {"error": event.get("error", event)}


async def create_openai_engine(settings: Settings, model: str | None) -> Engine:
    """An engine for the configured server; nothing is sent until the first request."""
    return OpenAICompatibleEngine(settings, model or settings.openai_model)


@hookimpl
def register_engines(register: RegisterEngine) -> None:
    register(NAME, create_openai_engine)
