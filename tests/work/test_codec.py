"""Turn events survive the trip between processes as JSON (the cluster's event sink): every
event of the contract comes back equal, and a failure comes back as an error the server
answers with the same status as the worker's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from personae.errors import (
    BadRequest,
    EngineError,
    EngineUnavailable,
    MessageTooLarge,
    PersonaNotFound,
    RateLimited,
)
from personae.server.errors import describe
from personae.types import (
    PromptSection,
    ReplyGuarded,
    StoredMessage,
    TextDelta,
    Timings,
    TokenLogprob,
    TopLogprob,
    Trace,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    Usage,
    WorkEvent,
)
from personae.work import codec


def _trace() -> Trace:
    return Trace(
        "scripted", "echo", 4096, (PromptSection("system", 12, True),), (3, 4), 20,
        Timings(1.5, 2.5, 3.5, 9.0), Usage(10, 5, 2), "stop", None, None, status="ok",
    )  # fmt: skip


EVENTS: list[WorkEvent] = [
    TurnStarted("c0ffee", 41),
    TextDelta("Hé 👋 /\\", (TokenLogprob("Hé", -0.1, (72, 195, 169), (TopLogprob("He", -2.0),)),)),
    ReplyGuarded("[removed]", "blocked", ("S1",)),
    TurnFinished(
        "x" * 20_000,
        Usage(10, 5),
        "length",
        _trace(),
        StoredMessage(42, "c0ffee", "assistant", "hi", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ),
    TurnFinished("again", Usage(), "stop", _trace(), None, replayed=True),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event: WorkEvent) -> None:
    assert codec.loads(codec.dumps(event)) == event


@pytest.mark.parametrize(
    "error",
    [
        EngineUnavailable("all endpoints down", retry_after=17),
        EngineError("the model said no"),
        PersonaNotFound("ghost"),  # built from a slug: comes back as its base, same status
        MessageTooLarge(9000, 8000),
        BadRequest("logprobs is not supported"),
        RateLimited("person", 3.0),
        RuntimeError("a bug"),  # not ours: a 502-class engine error, message kept
    ],
)
def test_failures_keep_their_status_and_message(error: Exception) -> None:
    back = codec.loads(codec.dumps(TurnFailed(error)))
    assert isinstance(back, TurnFailed)
    assert str(back.error) == str(error)
    if isinstance(error, EngineUnavailable):
        assert isinstance(back.error, EngineUnavailable) and back.error.retry_after == 17
    expected = describe(error).status if not isinstance(error, RuntimeError) else 502
    assert describe(back.error).status == expected  # type: ignore[arg-type]
