"""OpenAI chat-completions wire format: the request model, its translation into a TurnInput,
and the response and chunk bodies. Unknown OpenAI fields are accepted and ignored."""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from personae.server.errors import FieldError
from personae.types import (
    ChatMessage,
    GenerationOptions,
    PersonRef,
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


class ContentPart(_Open):
    type: str
    text: str | None = None


class ClientMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(_Open):
    include_usage: StrictBool = False


class ChatCompletionRequest(_Open):
    model: str = Field(description="A persona id (see GET /v1/models)")
    messages: list[ClientMessage] = Field(min_length=1)
    user: str | None = Field(
        None, description="When set, the conversation is kept server-side for this person"
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
    for part_index, part in enumerate(message.content):
        if part.type != "text" or part.text is None:
            raise FieldError(
                f"messages.{index}.content.{part_index}",
                f"content part type {part.type!r} is not supported; send text parts "
                '({"type": "text", "text": "..."}) or a plain string',
            )
        texts.append(part.text)
    return "\n".join(texts)


def _options(body: ChatCompletionRequest) -> GenerationOptions:
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    return GenerationOptions(
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=stop,
        seed=body.seed,
    )


def to_turn_input(body: ChatCompletionRequest) -> TurnInput:
    """Stateful with ``user`` (only the trailing user messages are new), else stateless."""
    if body.n is not None and body.n > 1:
        raise FieldError("n", "n > 1 is not supported: a persona gives one reply; send n=1")
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


def completion_json(cid: str, model: str, finished: TurnFinished) -> dict[str, Any]:
    message = {"role": "assistant", "content": finished.text, "refusal": None}
    choice = {"index": 0, "message": message, "finish_reason": finished.finish_reason}
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{**choice, "logprobs": None}],
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

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
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
