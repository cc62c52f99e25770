"""OpenAI chat-completions wire format: the request model, its translation into a TurnInput,
and the response and chunk bodies.

Every request parameter of OpenAI's chat completions is in one of three groups (PARAMETERS):
honoured; accepted with nothing to do here (said why); refused with a 400 naming it. Fields
OpenAI does not define (other servers' extensions) are ignored."""

from __future__ import annotations

import json
import secrets
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from personae.server.errors import FieldError
from personae.types import (
    ChatMessage,
    GenerationOptions,
    PersonRef,
    ResponseFormat,
    TokenLogprob,
    TurnFinished,
    TurnInput,
    Usage,
)

OPENAI_CHANNEL = "openai"
# Strict like OpenAI: no "yes" for true, no "16" or 1e30 for 16 (StrictFloat still takes 1).
_INT32 = 2**31 - 1
Tokens = Annotated[StrictInt, Field(ge=1, le=_INT32)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ImageUrl(_Open):
    url: StrictStr = Field(max_length=64 * 1024 * 1024)
    detail: str | None = None


class ContentPart(_Open):
    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


# What a user message that is only a picture reads as, in the stored conversation.
PICTURE_ONLY = "[The person sent a picture]"
MAX_IMAGES = 8  # image parts one request may carry in its new message(s)


class ClientMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(_Open):
    include_usage: StrictBool = False


class JsonSchemaSpec(_Open):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: StrictBool | None = False
    description: str | None = None


class ResponseFormatSpec(_Open):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaSpec | None = None


# Each OpenAI chat-completions parameter and what personae does with it (README lists these).
HONOURED = (
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "stop", "seed", "n", "user", "frequency_penalty",
    "presence_penalty", "response_format", "logprobs", "top_logprobs",
    "audio", "modalities",  # input_audio parts and spoken replies (server/openai_audio.py)
)  # fmt: skip
# Accepted, with nothing to do here: OpenAI's own dashboard store and tiers, cache hints
# (the persona prefix is cached for everyone anyway), tool settings without tools.
WITHOUT_EFFECT = (
    "store", "metadata", "service_tier", "prompt_cache_key", "prompt_cache_retention",
    "prompt_cache_options", "safety_identifier", "parallel_tool_calls",
)  # fmt: skip
REFUSED: dict[str, str] = {
    "tools": "personas do not call tools yet; leave tools out",
    "functions": "personas do not call functions yet; leave functions out",
    "tool_choice": "personas do not call tools yet; leave tool_choice out (or send 'none')",
    "function_call": "personas do not call functions yet; leave function_call out",
    "logit_bias": "token ids differ between models, and personae does not map OpenAI's; "
    "leave logit_bias out",
    "prediction": "predicted outputs are not supported; leave prediction out",
    "reasoning_effort": "persona models are not reasoning models; leave reasoning_effort out",
    "verbosity": "reply length is the persona's (and max_tokens'); leave verbosity out",
    "web_search_options": "personas do not search the web; leave web_search_options out",
    "moderation": "personae runs no moderation model; leave moderation out",
}
# Values of refused parameters that ask for nothing (a client's defaults).
_HARMLESS: dict[str, tuple[Any, ...]] = {
    "tools": ([],), "functions": ([],), "tool_choice": ("none", "auto"),
    "function_call": ("none", "auto"), "logit_bias": ({},), "modalities": (["text"],),
}  # fmt: skip
MAX_TOP_LOGPROBS = 20
MAX_SCHEMA_BYTES = 64 * 1024


class ChatCompletionRequest(_Open):
    model: str = Field(description="A persona id (see GET /v1/models)")
    messages: list[ClientMessage] = Field(min_length=1)
    user: str | None = Field(
        None,
        max_length=255,
        description="When set, the conversation is kept server-side for this person",
    )
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: Tokens | None = None
    max_completion_tokens: Tokens | None = None
    temperature: StrictFloat | None = Field(None, ge=0.0, le=2.0)
    top_p: StrictFloat | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: StrictInt | None = Field(None, ge=-(2**63), le=2**63 - 1)
    n: StrictInt | None = Field(None, ge=1, le=128)
    frequency_penalty: StrictFloat | None = Field(None, ge=-2.0, le=2.0)
    presence_penalty: StrictFloat | None = Field(None, ge=-2.0, le=2.0)
    response_format: ResponseFormatSpec | None = None
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    store: StrictBool | None = None
    metadata: dict[str, StrictStr] | None = None
    service_tier: StrictStr | None = None
    prompt_cache_key: StrictStr | None = None
    safety_identifier: StrictStr | None = None
    parallel_tool_calls: StrictBool | None = None


def refuse_unsupported(body: ChatCompletionRequest) -> None:
    """A 400 naming the first parameter that asks for what personae cannot do."""
    extra = body.model_extra or {}
    for name, why in REFUSED.items():
        value = extra.get(name)
        if value is not None and value not in _HARMLESS.get(name, ()):
            raise FieldError(name, f"{name} is not supported: {why}")
    if body.n is not None and body.n > 1:
        raise FieldError("n", "n > 1 is not supported: a persona gives one reply; send n=1")
    if body.top_logprobs and not body.logprobs:
        raise FieldError("top_logprobs", "top_logprobs needs logprobs: send logprobs=true with it")


def response_format_of(spec: ResponseFormatSpec | None) -> ResponseFormat | None:
    if spec is None or spec.type == "text":
        return None
    if spec.type == "json_object":
        return ResponseFormat("json_object")
    if spec.json_schema is None:
        raise FieldError(
            "response_format.json_schema",
            "response_format of type json_schema needs json_schema: "
            '{"name": "...", "schema": {...JSON Schema...}}',
        )
    schema = spec.json_schema.schema_
    text = json.dumps(schema if schema is not None else {"type": "object"})
    if len(text) > MAX_SCHEMA_BYTES:
        raise FieldError(
            "response_format.json_schema.schema",
            f"the JSON schema is {len(text)} bytes, over the limit of {MAX_SCHEMA_BYTES}; "
            "send a smaller schema",
        )
    return ResponseFormat("json_schema", text, spec.json_schema.name, bool(spec.json_schema.strict))


def _text_of(message: ClientMessage, index: int) -> str:
    if message.role in ("tool", "function"):
        raise FieldError(
            f"messages.{index}.role",
            f"{message.role} messages are not supported: personas do not call tools; send only "
            "system, developer, user and assistant messages",
        )
    text = _joined(message, index)
    if message.role == "user" and not text.strip():
        raise FieldError(
            f"messages.{index}.content",
            "a user message needs text: content is empty or null; send what the person said",
        )
    return text


def _joined(message: ClientMessage, index: int) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    texts: list[str] = []
    pictures = 0
    for part_index, part in enumerate(message.content):
        if part.type == "image_url" and message.role == "user":
            if part.image_url is None:
                raise FieldError(
                    f"messages.{index}.content.{part_index}.image_url",
                    'an image_url part needs image_url: {"url": "data:image/png;base64,..."}',
                )
            pictures += 1
            continue
        if part.type != "text" or part.text is None:
            raise FieldError(
                f"messages.{index}.content.{part_index}",
                f"content part type {part.type!r} is not supported; send text parts "
                '({"type": "text", "text": "..."}), image_url parts in user messages, or a '
                "plain string",
            )
        texts.append(part.text)
    text = "\n".join(texts)
    return text if text.strip() or not pictures else PICTURE_ONLY


def image_refs(body: ChatCompletionRequest) -> list[tuple[str, str]]:
    """(param, url) of each image part in the new message: the trailing user messages of a
    kept conversation, the last user message of a stateless call. Pictures in earlier
    messages are not fetched again (the model reads the conversation's text)."""
    last = len(body.messages) - 1
    first = last
    if body.user:
        while first > 0 and body.messages[first - 1].role == "user":
            first -= 1
    refs: list[tuple[str, str]] = []
    for index in range(first, last + 1):
        content = body.messages[index].content
        if body.messages[index].role != "user" or not isinstance(content, list):
            continue
        for part_index, part in enumerate(content):
            if part.type == "image_url" and part.image_url is not None:
                refs.append(
                    (f"messages.{index}.content.{part_index}.image_url.url", part.image_url.url)
                )
    if len(refs) > MAX_IMAGES:
        raise FieldError(
            refs[MAX_IMAGES][0],
            f"the message carries {len(refs)} images, over the limit of {MAX_IMAGES}; send fewer",
        )
    return refs


def _options(body: ChatCompletionRequest) -> GenerationOptions:
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    return GenerationOptions(
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=stop,
        seed=body.seed,
        frequency_penalty=body.frequency_penalty,
        presence_penalty=body.presence_penalty,
        response_format=response_format_of(body.response_format),
        logprobs=bool(body.logprobs),
        top_logprobs=body.top_logprobs or 0,
    )


def to_turn_input(body: ChatCompletionRequest) -> TurnInput:
    """Stateful with ``user`` (only the trailing user messages are new), else stateless."""
    refuse_unsupported(body)
    system: list[str] = []
    chat: list[tuple[int, ChatMessage]] = []
    for index, message in enumerate(body.messages):
        text = _text_of(message, index)
        if message.role in ("system", "developer"):
            system.append(text)
        elif message.role in ("user", "assistant"):
            chat.append((index, ChatMessage(message.role, text)))
    if not chat or chat[-1][1].role != "user":
        raise FieldError(
            "messages", "the last non-system message must come from the user (role 'user')"
        )
    instructions = "\n\n".join(s for s in system if s)
    if body.user:
        trailing: list[str] = []
        for _, said in reversed(chat):
            if said.role != "user":
                break
            trailing.append(said.content)
        return TurnInput(
            persona=body.model,
            text="\n\n".join(reversed(trailing)),
            person=PersonRef(OPENAI_CHANNEL, body.user),
            instructions=instructions,
            options=_options(body),
        )
    history = tuple(said for _, said in chat[:-1])
    return TurnInput(
        persona=body.model,
        text=chat[-1][1].content,
        history=history,
        instructions=instructions,
        options=_options(body),
    )


def completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def usage_json(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return body


def logprobs_json(logprobs: tuple[TokenLogprob, ...]) -> dict[str, Any]:
    """OpenAI's ``choices[].logprobs``: the tokens, each with its top alternatives."""
    content = [
        {
            "token": item.token,
            "logprob": item.logprob,
            "bytes": _bytes(item.token, item.bytes),
            "top_logprobs": [
                {"token": t.token, "logprob": t.logprob, "bytes": _bytes(t.token, t.bytes)}
                for t in item.top
            ],
        }
        for item in logprobs
    ]
    return {"content": content, "refusal": None}


def _bytes(token: str, raw: tuple[int, ...] | None) -> list[int]:
    return list(raw) if raw is not None else list(token.encode())


def completion_json(
    cid: str, model: str, finished: TurnFinished, logprobs: bool = False
) -> dict[str, Any]:
    message = {"role": "assistant", "content": finished.text, "refusal": None}
    choice = {"index": 0, "message": message, "finish_reason": finished.finish_reason}
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{**choice, "logprobs": logprobs_json(finished.logprobs) if logprobs else None}],
        "usage": usage_json(finished.usage),
        "system_fingerprint": None,
    }


class ChunkMaker:
    """Builds the chat.completion.chunk bodies of one stream (same id and created)."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def chunk(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        logprobs: tuple[TokenLogprob, ...] | None = None,
    ) -> dict[str, Any]:
        shown = logprobs_json(logprobs) if logprobs is not None else None
        choice = {"index": 0, "delta": delta, "logprobs": shown, "finish_reason": finish_reason}
        return self._frame([choice], None)

    def usage(self, usage: Usage) -> dict[str, Any]:
        return self._frame([], usage_json(usage))

    def _frame(self, choices: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:  # OpenAI sends "usage": null on every chunk but the last
            body["usage"] = usage
        return body
