"""scripted: a deterministic engine shipped for tests; its reply is a pure function of the request.

Reply format (the words of the last user message, whitespace collapsed)::

    echo: <last user message>          ("echo: (nothing)" when there is no user message)

Markers in the last user message change that:

- ``[[engine-prompt]]``: the reply lists the prompt's roles, ``prompt: system user assistant user``
- ``[[engine-fail]]``: raise EngineUnavailable before streaming anything
- ``[[engine-fail-mid]]``: raise EngineUnavailable after the first chunk
- ``[[engine-media]]``: the reply says what the model was given about pictures:
  ``media: <n> images (<mime WxH>...) note: <the system note right before the message>``

The reply streams word by word (one chunk per word); a word counts as one token. Stop strings cut
the reply before their first occurrence (finish "stop"); more than ``max_tokens`` words are cut to
``max_tokens`` (finish "length"). count_tokens: words + 4 per message. Usage reports
prompt_tokens as the sum of those counts and completion_tokens as the words streamed.

The model name may ask for a per-word delay, so tests can watch streaming and concurrency:
``slow:0.05`` waits 0.05 s before each word. Any other name (or none) means no delay. A model
named ``vision`` accepts images (EngineInfo.accepts_images), like a vision model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from personae.contracts import Engine
from personae.errors import ConfigError, EngineUnavailable
from personae.plugins import RegisterEngine, hookimpl
from personae.settings import Settings
from personae.types import (
    ChatMessage,
    EngineInfo,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    Usage,
)

NAME = "scripted"
MESSAGE_OVERHEAD = 4
FAIL = "[[engine-fail]]"
FAIL_MID = "[[engine-fail-mid]]"
PROMPT = "[[engine-prompt]]"
MEDIA = "[[engine-media]]"
VISION = "vision"


def reply_for(messages: Sequence[ChatMessage]) -> str:
    """The full reply before stop strings and max_tokens apply."""
    last = next((m.content for m in reversed(messages) if m.role == "user"), "")
    if PROMPT in last:
        return "prompt: " + " ".join(m.role for m in messages)
    if MEDIA in last:
        return _media_reply(messages)
    return "echo: " + (" ".join(last.split()) or "(nothing)")


def _media_reply(messages: Sequence[ChatMessage]) -> str:
    index = max(i for i, m in enumerate(messages) if m.role == "user")
    images = messages[index].images
    shapes = " ".join(f"{i.media.mime_type} {i.media.width}x{i.media.height}" for i in images)
    before = messages[index - 1] if index > 0 else None
    note = before.content if before is not None and before.role == "system" else "none"
    return f"media: {len(images)} images ({shapes}) note: {note}"


def shape_reply(text: str, stop: Sequence[str], max_tokens: int) -> tuple[list[str], FinishReason]:
    """Apply stop strings, then max_tokens; the words to stream (spaces kept) and why it ended."""
    cuts = [text.find(s) for s in stop if s and s in text]
    if cuts:
        text = text[: min(cuts)]
    words = text.split()
    pieces = words[:1] + [" " + w for w in words[1:]]
    if len(pieces) > max_tokens:
        return pieces[:max_tokens], "length"
    return pieces, "stop"


def _delay(model: str) -> float:
    if not model.startswith("slow:"):
        return 0.0
    try:
        return max(0.0, float(model.removeprefix("slow:")))
    except ValueError:
        raise ConfigError(
            f"engine {NAME}: model {model!r} is not 'slow:<seconds>'; use e.g. 'slow:0.05'"
        ) from None


class ScriptedEngine:
    def __init__(self, info: EngineInfo, delay_s: float) -> None:
        self.info = info
        self._delay = delay_s

    async def count_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        return [len(m.content.split()) + MESSAGE_OVERHEAD for m in messages]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if FAIL in last:
            raise EngineUnavailable(f"engine {NAME}: failure asked for by {FAIL}", retry_after=1)
        pieces, finish = shape_reply(reply_for(request.messages), request.stop, request.max_tokens)
        slow = request.model is not None and request.model.startswith("slow:")
        delay = _delay(request.model) if slow and request.model else self._delay
        for index, piece in enumerate(pieces):
            if delay:
                await asyncio.sleep(delay)
            yield GenerationChunk(text=piece)
            if index == 0 and FAIL_MID in last:
                raise EngineUnavailable(
                    f"engine {NAME}: failure after the first chunk asked for by {FAIL_MID}",
                    retry_after=1,
                )
        prompt = sum(await self.count_tokens(request.messages))
        usage = Usage(prompt_tokens=prompt, completion_tokens=len(pieces))
        yield GenerationChunk(finish_reason=finish, usage=usage)

    async def aclose(self) -> None:
        return None


async def create_scripted_engine(settings: Settings, model: str | None) -> Engine:
    name = model or NAME
    info = EngineInfo(
        name=NAME,
        model=name,
        context_window=settings.context_window,
        parallel_slots=settings.parallel,
        accepts_images=name == VISION,
    )
    return ScriptedEngine(info, _delay(name))


@hookimpl
def register_engines(register: RegisterEngine) -> None:
    register(NAME, create_scripted_engine)
