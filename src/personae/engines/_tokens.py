"""Token counting inside the chat template, with a server's own tokenizer.

A prompt's token count is the sum, over its messages, of the message's text tokens plus what the
chat template wraps around a message of that role. ``TokenCounter`` measures that wrapping once
(four small template probes) and caches the text counts in a bounded LRU, so the turn hot path
only pays for text it has not seen (a persona's system prompt repeats every turn).

Unseen texts are counted together: llama.cpp's /tokenize takes a list of texts and token ids and
tokenizes each text on its own, so texts separated by an id no tokenizer produces (-1) come back
as one token list whose separators mark each text's count: one request for many texts. Servers
without that shape get one request per text. Either way at most ``CONCURRENT_REQUESTS`` requests
per tokenizer are in flight, so no single turn can take the whole connection pool.

Without a template endpoint each message costs its text tokens + 4. Without any tokenizer the
count is a conservative estimate: ceil(UTF-8 bytes / 3) + 4 per message.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from personae.core.prompt import estimate_tokens, laid_out
from personae.engines._wire import error_for_status, error_message, wire_messages
from personae.errors import EngineError, EngineUnavailable
from personae.types import ChatMessage

MESSAGE_OVERHEAD = 4
CACHE_ENTRIES = 2048
CONCURRENT_REQUESTS = 4
BATCH_TEXTS = 256  # texts per batched /tokenize request: bounds one request's size
_SEPARATOR = -1  # LLAMA_TOKEN_NULL: never produced by tokenizing text
# Statuses meaning "no such endpoint here (or not in this shape, or not for us)": estimate then.
_MISSING = frozenset({400, 401, 403, 404, 405, 422, 501})


class Tokenizer(Protocol):
    async def count_text(self, text: str) -> int | None:
        """Tokens of a plain text; None when the server has no tokenizer."""
        ...

    async def count_texts(self, texts: Sequence[str]) -> list[int] | None:
        """Tokens of each text, in as few requests as the server allows; None: no tokenizer."""
        ...

    async def count_chat(self, messages: Sequence[ChatMessage]) -> int | None:
        """Tokens of the whole templated prompt; None when the server cannot apply its template."""
        ...


@dataclass(frozen=True, slots=True)
class Overheads:
    """Template tokens around a message's text, by role and position."""

    system: int  # a leading system message, including the assistant generation prompt
    user: int
    assistant: int
    first_extra: int  # added to a first message that is not a system message

    def of(self, index: int, message: ChatMessage) -> int:
        if index == 0 and message.role == "system":
            return self.system
        own = self.assistant if message.role == "assistant" else self.user
        return own + (self.first_extra if index == 0 else 0)


FIXED = Overheads(MESSAGE_OVERHEAD, MESSAGE_OVERHEAD, MESSAGE_OVERHEAD, 0)


class TokenCounter:
    """Per-message token counts; the template overheads are measured on first use."""

    def __init__(self, tokenizer: Tokenizer, capacity: int = CACHE_ENTRIES) -> None:
        self._tokenizer = tokenizer
        self._capacity = capacity
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._overheads: Overheads | None = None
        self._estimating = False
        self._lock = asyncio.Lock()

    @property
    def estimating(self) -> bool:
        """True once the server turned out to have no tokenizer."""
        return self._estimating

    async def count(self, messages: Sequence[ChatMessage]) -> list[int]:
        overheads = self._overheads or await self._measure()
        if self._estimating:
            return [estimate_tokens(m.content) + MESSAGE_OVERHEAD for m in messages]
        counts = await self._texts([m.content for m in messages])
        return [counts[m.content] + overheads.of(i, m) for i, m in enumerate(messages)]

    async def text(self, text: str) -> int:
        return (await self._texts([text]))[text]

    async def _texts(self, texts: Sequence[str]) -> dict[str, int]:
        """Counts of the given texts: cached ones from the cache, the rest in one batch."""
        found: dict[str, int] = {"": 0}
        unseen: list[str] = []
        for text in texts:
            if text in found:
                continue
            cached = self._cache.get(text)
            if cached is None:
                found[text] = -1  # placeholder: deduplicates repeats within this call
                unseen.append(text)
            else:
                self._cache.move_to_end(text)
                found[text] = cached
        if unseen:
            counted = await self._tokenizer.count_texts(unseen)
            for i, text in enumerate(unseen):
                found[text] = estimate_tokens(text) if counted is None else counted[i]
                self._remember(text, found[text])
        return found

    def _remember(self, text: str, count: int) -> None:
        self._cache[text] = count
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)

    async def _measure(self) -> Overheads:
        async with self._lock:
            if self._overheads is None:
                if await self._tokenizer.count_text("Hello") is None:
                    self._estimating = True
                    self._overheads = FIXED
                else:
                    self._overheads = await self._probe_template() or FIXED
            return self._overheads

    async def _probe_template(self) -> Overheads | None:
        """Differences between templated probes give each role's wrapping (see module doc)."""
        sys_, u, a, last = (
            ChatMessage("system", "Alpha"),
            ChatMessage("user", "Bravo"),
            ChatMessage("assistant", "Delta"),
            ChatMessage("user", "Charlie"),
        )
        short = await self._tokenizer.count_chat([sys_, last])
        long = await self._tokenizer.count_chat([sys_, u, a, last])
        alone = await self._tokenizer.count_chat([last])
        if short is None or long is None or alone is None:
            return None
        t = {m.content: await self.text(m.content) for m in (sys_, u, a, last)}
        pair = long - short - t["Bravo"] - t["Delta"]
        user = max(0, pair // 2)
        return Overheads(
            system=max(0, short - t["Alpha"] - t["Charlie"] - user),
            user=user,
            assistant=max(0, pair - user),
            first_extra=max(0, alone - t["Charlie"] - user),
        )


class HttpTokenizer:
    """A server's tokenizer over HTTP: llama.cpp (/tokenize, /apply-template) or vLLM (/tokenize).

    ``root`` is the server root (no /v1). Connection failures raise EngineUnavailable.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        root: str,
        model: str,
        engine: str,
        *,
        batched: bool = False,
        template: str = "chatml",
    ) -> None:
        self._client = client
        self._root = root.rstrip("/")
        self._model = model
        self._engine = engine
        self._batched = batched  # the server is llama.cpp: many texts per /tokenize
        self._template = template  # the probes go out in the layout the prompts will
        self._chat_shape: str | None = None  # "llamacpp", "vllm" or "none", once known
        self._requests = asyncio.Semaphore(CONCURRENT_REQUESTS)

    async def count_text(self, text: str) -> int | None:
        # One body both servers accept: llama.cpp reads "content", vLLM "model" + "prompt".
        body = {"content": text, "model": self._model, "prompt": text, "add_special_tokens": False}
        return _count_of(await self._post("/tokenize", body))

    async def count_texts(self, texts: Sequence[str]) -> list[int] | None:
        if not self._batched:
            counts = await asyncio.gather(*(self.count_text(text) for text in texts))
            return None if any(n is None for n in counts) else [n or 0 for n in counts]
        counts_: list[int] = []
        for start in range(0, len(texts), BATCH_TEXTS):
            part = await self._count_batch(texts[start : start + BATCH_TEXTS])
            if part is None:
                return None
            counts_.extend(part)
        return counts_

    async def _count_batch(self, texts: Sequence[str]) -> list[int] | None:
        content: list[str | int] = []
        for text in texts:
            content += [text, _SEPARATOR]
        data = await self._post("/tokenize", {"content": content, "add_special": False})
        tokens = data.get("tokens") if data else None
        if not isinstance(tokens, list):
            return None
        counts = _split_counts(tokens)
        if len(counts) != len(texts):
            raise EngineError(
                f"engine {self._engine}: the tokenizer at {self._root}/tokenize answered "
                f"{len(counts)} counts for {len(texts)} texts; is it a llama.cpp server?"
            )
        return counts

    async def count_chat(self, messages: Sequence[ChatMessage]) -> int | None:
        wire = wire_messages(laid_out(messages, self._template))
        if self._chat_shape in (None, "llamacpp"):
            applied = await self._post("/apply-template", {"messages": wire})
            if applied is not None and isinstance(applied.get("prompt"), str):
                self._chat_shape = "llamacpp"
                # Specials in the templated text are parsed as special tokens (llama.cpp default).
                return _count_of(await self._post("/tokenize", {"content": applied["prompt"]}))
        if self._chat_shape in (None, "vllm"):
            body = {"model": self._model, "messages": wire, "add_generation_prompt": True}
            counted = _count_of(await self._post("/tokenize", body))
            if counted is not None:
                self._chat_shape = "vllm"
                return counted
        self._chat_shape = "none"
        return None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        url = self._root + path
        try:
            async with self._requests:
                try:
                    response = await self._client.post(url, json=body)
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    # A kept-alive connection the server had closed: counting is idempotent,
                    # so ask once more on a fresh connection before calling the server down.
                    response = await self._client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(
                f"engine {self._engine}: could not reach the tokenizer at {url} "
                f"({type(exc).__name__}: {exc}); check that the server is running"
            ) from exc
        if response.status_code in _MISSING:
            return None
        data = _json_or_text(response)
        if response.status_code >= 300:
            raise error_for_status(self._engine, url, response.status_code, error_message(data))
        return data if isinstance(data, dict) else None


def _json_or_text(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text


def _split_counts(tokens: list[object]) -> list[int]:
    """Token counts between separators (each text is followed by one)."""
    counts: list[int] = []
    run = 0
    for token in tokens:
        if token == _SEPARATOR:
            counts.append(run)
            run = 0
        else:
            run += 1
    return counts


def _count_of(data: dict[str, Any] | None) -> int | None:
    if data is None:
        return None
    if isinstance(data.get("count"), int):
        return int(data["count"])
    tokens = data.get("tokens")
    return len(tokens) if isinstance(tokens, list) else None
