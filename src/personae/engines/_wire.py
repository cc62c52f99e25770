"""OpenAI chat-completion wire format, shared by the engines that speak it.

The embedded llama.cpp server hands its stream chunks to a callback as OpenAI-shaped dicts and an
OpenAI-compatible server sends the same JSON as SSE ``data:`` lines, so both engines read them
with one ``StreamReader``. Dicts stay inside this module's callers; the core only sees
``GenerationChunk``.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from personae.core.prompt import laid_out
from personae.errors import EngineError, EngineUnavailable
from personae.types import (
    ChatMessage,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    ResponseFormat,
    TokenLogprob,
    TopLogprob,
    Usage,
)

DEFAULT_RETRY_AFTER = 5


def wire_messages(messages: Sequence[ChatMessage], images: bool = False) -> list[dict[str, Any]]:
    """OpenAI's message list; with ``images``, a message that carries images becomes content
    parts (its text, then one ``image_url`` data URL per image). Without: text only (what a
    tokenizer's template endpoint is sent)."""
    return [
        {"role": m.role, "content": _parts(m) if images and m.images else m.content}
        for m in messages
    ]


def _parts(message: ChatMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for image in message.images:
        encoded = base64.b64encode(image.data).decode("ascii")
        url = f"data:{image.media.mime_type};base64,{encoded}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def chat_body(
    request: GenerationRequest, model: str | None, template: str = "chatml"
) -> dict[str, Any]:
    """The streaming /chat/completions body for a request (``model`` None: leave it out), its
    messages in the layout the model's chat template needs."""
    body: dict[str, Any] = {
        "messages": wire_messages(laid_out(request.messages, template), images=True),
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if model is not None:
        body["model"] = model
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.frequency_penalty is not None:
        body["frequency_penalty"] = request.frequency_penalty
    if request.presence_penalty is not None:
        body["presence_penalty"] = request.presence_penalty
    if request.response_format is not None:
        body["response_format"] = response_format_json(request.response_format)
    if request.logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = request.top_logprobs
    return body


def response_format_json(fmt: ResponseFormat) -> dict[str, Any]:
    """OpenAI's response_format; llama.cpp's server reads it too (as a grammar)."""
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name or "response", "strict": fmt.strict}
    spec["schema"] = json.loads(fmt.schema) if fmt.schema is not None else {"type": "object"}
    return {"type": "json_schema", "json_schema": spec}


def read_logprobs(choice: Mapping[str, Any]) -> tuple[TokenLogprob, ...]:
    """A choice's ``logprobs.content`` (OpenAI's shape), as TokenLogprobs; () when absent."""
    found = choice.get("logprobs")
    content = found.get("content") if isinstance(found, Mapping) else None
    if not isinstance(content, list):
        return ()
    out: list[TokenLogprob] = []
    for item in content:
        if not isinstance(item, Mapping):
            continue
        top = tuple(
            TopLogprob(str(t.get("token", "")), float(t.get("logprob", 0.0)), _bytes(t))
            for t in item.get("top_logprobs") or ()
            if isinstance(t, Mapping)
        )
        token = str(item.get("token", ""))
        out.append(TokenLogprob(token, float(item.get("logprob", 0.0)), _bytes(item), top))
    return tuple(out)


def _bytes(item: Mapping[str, Any]) -> tuple[int, ...] | None:
    raw = item.get("bytes")
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return tuple(raw)
    return None


def parse_retry_after(value: str | None) -> int:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); a default if absent."""
    if not value:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    try:
        return max(0, math.ceil(float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - datetime.now(UTC)).total_seconds()))


def error_message(payload: object) -> str:
    """The human part of an error body: OpenAI's ``{"error": {"message"}}`` and common variants."""
    if isinstance(payload, Mapping):
        inner = payload.get("error", payload)
        if isinstance(inner, Mapping):
            for key in ("message", "detail", "msg"):
                if isinstance(inner.get(key), str):
                    return str(inner[key])
        if isinstance(inner, str):
            return inner
        if isinstance(payload.get("detail"), str):
            return str(payload["detail"])
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return text.strip()[:500] or "(empty body)"


def error_for_status(
    engine: str, where: str, status: int, message: str, retry_after: str | None = None
) -> EngineError:
    """429 and 5xx are transient (retry later); other 4xx mean the request or setup is wrong."""
    text = f"engine {engine} at {where}: server answered {status}: {message}"
    if status == 429 or status >= 500:
        return EngineUnavailable(f"{text}; retry later", parse_retry_after(retry_after))
    if status in (401, 403):
        return EngineError(f"{text}; check PERSONAE_OPENAI_API_KEY")
    if status == 404:
        return EngineError(f"{text}; check PERSONAE_OPENAI_BASE_URL and the model name")
    return EngineError(f"{text}; fix the request (prompt size, model, options) and retry")


def _finish(value: object) -> FinishReason:
    # Servers may say "eos", "tool_calls" or "content_filter"; only a length cut is special here.
    return "length" if value == "length" else "stop"


class StreamReader:
    """Folds OpenAI stream chunks into text deltas, then a last chunk with finish reason + usage."""

    def __init__(self, engine: str, where: str) -> None:
        self.engine = engine
        self.where = where
        self.finish_reason: FinishReason | None = None
        self.usage: Usage | None = None
        self.pieces = 0

    def feed(self, chunk: Mapping[str, Any]) -> GenerationChunk | None:
        """The text (and its logprobs) this chunk adds, None for none; raises the engine
        error a chunk reports."""
        if "error" in chunk:
            self._raise(chunk)
        self._read_usage(chunk)
        text = ""
        logprobs: tuple[TokenLogprob, ...] = ()
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str):
                text += content
            logprobs += read_logprobs(choice)
            if choice.get("finish_reason"):
                self.finish_reason = _finish(choice["finish_reason"])
        if text:
            self.pieces += 1
        return GenerationChunk(text=text, logprobs=logprobs) if text or logprobs else None

    def final(self, prompt_tokens: int) -> GenerationChunk:
        """The last chunk; ``prompt_tokens`` is used only if the server sent no usage."""
        if self.finish_reason is None:
            raise EngineUnavailable(
                f"engine {self.engine} at {self.where}: the stream ended before the reply "
                "finished (the server closed it); retry"
            )
        usage = self.usage or Usage(prompt_tokens=prompt_tokens, completion_tokens=self.pieces)
        return GenerationChunk(finish_reason=self.finish_reason, usage=usage)

    def _read_usage(self, chunk: Mapping[str, Any]) -> None:
        usage, timings = chunk.get("usage"), chunk.get("timings")
        if not isinstance(usage, Mapping):
            return
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
        if cached is None and isinstance(timings, Mapping):
            cached = timings.get("cache_n")  # llama.cpp: prompt tokens reused from its cache
        self.usage = Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(cached or 0),
        )

    def _raise(self, chunk: Mapping[str, Any]) -> None:
        inner = chunk["error"]
        code = inner.get("code") if isinstance(inner, Mapping) else None
        status = code if isinstance(code, int) else 500
        raise error_for_status(self.engine, self.where, status, error_message(chunk))
