"""Turn events as JSON, for an event sink that crosses processes (pg_events.py).

Every event of the contract round-trips: TurnStarted, TextDelta (with log probabilities),
ReplyGuarded, TurnFinished (trace, reply and all) and TurnFailed, whose error comes back as
the same personae error class where that class is built from a message alone (else the
nearest such base class), so the web process answers it as the worker's own would.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from personae import errors
from personae.stores.serialize import trace_from_json, trace_to_json
from personae.types import (
    ReplyGuarded,
    StoredMessage,
    TextDelta,
    TokenLogprob,
    TopLogprob,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    Usage,
    WorkEvent,
)


def encode(event: WorkEvent) -> dict[str, Any]:
    if isinstance(event, TurnStarted):
        return {"t": "started", "c": event.conversation_id, "m": event.inbound_message_id}
    if isinstance(event, TextDelta):
        return {"t": "delta", "x": event.text, "l": _logprobs(event.logprobs)}
    if isinstance(event, ReplyGuarded):
        return {"t": "guarded", "x": event.text, "s": event.status, "k": list(event.categories)}
    if isinstance(event, TurnFinished):
        return {
            "t": "finished",
            "x": event.text,
            "u": dataclasses.asdict(event.usage),
            "f": event.finish_reason,
            "tr": trace_to_json(event.trace),
            "r": _message(event.reply) if event.reply is not None else None,
            "rp": event.replayed,
            "l": _logprobs(event.logprobs),
        }
    return {"t": "failed", **_error(event.error)}


def decode(data: dict[str, Any]) -> WorkEvent:
    kind = data["t"]
    if kind == "started":
        return TurnStarted(data["c"], data["m"])
    if kind == "delta":
        return TextDelta(data["x"], _from_logprobs(data["l"]))
    if kind == "guarded":
        return ReplyGuarded(data["x"], data["s"], tuple(data["k"]))
    if kind == "finished":
        reply = data["r"]
        return TurnFinished(
            text=data["x"],
            usage=Usage(**data["u"]),
            finish_reason=data["f"],
            trace=trace_from_json(data["tr"]),
            reply=_from_message(reply) if reply is not None else None,
            replayed=data["rp"],
            logprobs=_from_logprobs(data["l"]),
        )
    if kind == "failed":
        return TurnFailed(_from_error(data))
    raise ValueError(f"unknown turn event {kind!r}")


def dumps(event: WorkEvent) -> str:
    return json.dumps(encode(event), ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> WorkEvent:
    return decode(json.loads(text))


def _logprobs(items: tuple[TokenLogprob, ...]) -> list[Any]:
    return [dataclasses.asdict(item) for item in items]


def _from_logprobs(items: list[Any]) -> tuple[TokenLogprob, ...]:
    def top(t: dict[str, Any]) -> TopLogprob:
        raw = t.get("bytes")
        return TopLogprob(t["token"], t["logprob"], tuple(raw) if raw is not None else None)

    return tuple(
        TokenLogprob(
            item["token"],
            item["logprob"],
            tuple(item["bytes"]) if item.get("bytes") is not None else None,
            tuple(top(t) for t in item.get("top", ())),
        )
        for item in items
    )


def _message(message: StoredMessage) -> dict[str, Any]:
    data = dataclasses.asdict(message)
    data["created_at"] = message.created_at.isoformat()
    return data


def _from_message(data: dict[str, Any]) -> StoredMessage:
    return StoredMessage(**{**data, "created_at": datetime.fromisoformat(data["created_at"])})


def _error(error: BaseException) -> dict[str, Any]:
    names = [cls.__name__ for cls in type(error).__mro__ if getattr(errors, cls.__name__, None)]
    retry_after = getattr(error, "retry_after", None)
    return {"e": str(error), "n": names, "ra": retry_after}


def _from_error(data: dict[str, Any]) -> Exception:
    message = data["e"]
    for name in data["n"]:
        cls = getattr(errors, name, None)
        if cls is errors.EngineUnavailable:
            return errors.EngineUnavailable(message, int(data.get("ra") or 5))
        if (
            isinstance(cls, type)
            and issubclass(cls, errors.PersonaeError)
            and cls.__init__ is Exception.__init__  # built from its message alone
        ):
            return cls(message)
    return errors.EngineError(message)
